#!/usr/bin/env python3
"""Holds an SQLite database's write lock for a while, as another process's long transaction would.

    sqlite_write_lock.py DB MARKER SECONDS

Takes the write lock (BEGIN IMMEDIATE), creates MARKER.held, holds the lock for SECONDS,
creates MARKER.released, then commits (writing nothing) and exits.
"""
import pathlib
import sqlite3
import sys
import time

database, marker, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
connection = sqlite3.connect(database, isolation_level=None, timeout=30)
connection.execute("BEGIN IMMEDIATE")
pathlib.Path(marker + ".held").write_text("held\n")
time.sleep(seconds)
pathlib.Path(marker + ".released").write_text("released\n")
connection.execute("COMMIT")
connection.close()
