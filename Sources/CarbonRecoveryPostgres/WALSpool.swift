import CarbonRecovery
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The folder where a restore puts checked WAL files for PostgreSQL's `restore_command`
/// (`carbon-recovery pg restore-wal`), filled while the server already replays.
///
/// A restore writes `plan` first: every archived file it will fetch, `NAME SHA256` a line, and
/// holds an exclusive `flock` on it for as long as it runs. Each file then arrives as
/// `NAME-SHA256` (written beside it and renamed, so it is never seen half-written), owned by the
/// server's user. ``deliver(_:to:spool:)`` (what `restore_command` runs) hands a file over once
/// it is there and still hashes to its name; for a planned file not there yet it waits, as long
/// as the restore holds its lock; a name the plan does not hold is "not in the archive", which
/// is how PostgreSQL learns where the archive ends.
///
/// A planned file that cannot be handed over (the restore is gone, the file changed on disk) is
/// never reported as missing: PostgreSQL would take that for the end of the archive and, for a
/// restore to the latest moment, promote early. ``Delivery/abort(_:)`` makes `restore_command`
/// exit with ``abortStatus``, which PostgreSQL treats as fatal: recovery stops, nothing is promoted.
public final class WALSpool: Sendable {
    /// What `restore_command` did with a name.
    public enum Delivery: Sendable, Equatable {
        /// Copied to the path PostgreSQL gave.
        case delivered
        /// Not in the plan: not in the archive (exit 1).
        case notPlanned
        /// A planned file that cannot be handed over, and why (exit ``abortStatus``).
        case abort(String)
    }

    /// `restore_command`'s exit status that makes PostgreSQL stop recovery instead of treating
    /// the file as missing (an exit status above 125 counts as a shell error, which is fatal).
    public static let abortStatus: Int32 = 126

    /// The spool folder.
    public let path: String
    /// The plan file's descriptor, holding the exclusive lock until ``close()``.
    private let lock: Mutex<Int32>
    private let owner: (uid: uid_t, gid: gid_t)?

    /// Creates the folder (it must not exist), writes the plan for `entries` and takes its lock;
    /// with `owner`, the folder, the plan and every file written later belong to that user.
    ///
    /// - Throws: ``RecoveryError/Code/storageFailure`` when the folder or the plan cannot be made.
    public init(path: String, entries: [WALArchive.Entry], owner: (uid: uid_t, gid: gid_t)?) throws {
        self.path = path
        self.owner = owner
        guard mkdir(path, 0o700) == 0 else { throw RecoveryError(.storageFailure, "could not create \(path): \(String(cString: strerror(errno)))", target: path) }
        let plan = path + "/plan"
        let text = entries.map { "\($0.file.name) \($0.sha256)\n" }.joined()
        let descriptor = open(plan, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw RecoveryError(.storageFailure, "could not create \(plan): \(String(cString: strerror(errno)))", target: plan) }
        var ok = flock(descriptor, LOCK_EX | LOCK_NB) == 0
        ok = ok && text.utf8.withContiguousStorageIfAvailable { FileDescriptorWrite.writeAll(descriptor, $0) } ?? FileDescriptorWrite.writeAll(descriptor, Array(text.utf8))
        if ok, let owner { ok = fchown(descriptor, owner.uid, owner.gid) == 0 && Glibc.chown(path, owner.uid, owner.gid) == 0 }
        guard ok else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw RecoveryError(.storageFailure, "could not write \(plan): \(reason)", target: plan)
        }
        lock = Mutex(descriptor)
    }

    deinit { close() }

    /// Releases the lock: a `restore_command` still waiting gives up (``Delivery/abort(_:)``).
    public func close() {
        lock.withLock { descriptor in
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    /// Writes a fetched, checked file as `NAME-SHA256`, atomically, owned by the server's user.
    ///
    /// Blocking file work: call it off Swift's cooperative threads.
    func write(_ entry: WALArchive.Entry, contents: [UInt8]) throws {
        let final = path + "/" + entry.file.name + "-" + entry.sha256
        let partial = path + "/.partial-" + entry.file.name
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw RecoveryError(.storageFailure, "could not write \(partial): \(String(cString: strerror(errno)))", target: partial) }
        var ok = contents.withUnsafeBufferPointer { FileDescriptorWrite.writeAll(descriptor, $0) }
        if ok, let owner { ok = fchown(descriptor, owner.uid, owner.gid) == 0 }
        let reason = ok ? "" : String(cString: strerror(errno))
        Glibc.close(descriptor)
        guard ok, rename(partial, final) == 0 else {
            unlink(partial)
            throw RecoveryError(.storageFailure, "could not write \(final)\(reason.isEmpty ? "" : ": " + reason)", target: final)
        }
    }

    /// What `restore_command` runs: hands `name` to PostgreSQL at `destination`, waiting for a
    /// planned file the restore is still fetching (polling every `interval`).
    ///
    /// Blocking: it is the whole of a short-lived process, never called on a server's threads.
    public static func deliver(_ name: String, to destination: String, spool: String, interval: Duration = .milliseconds(50)) -> Delivery {
        let file: WALFileName
        do { file = try WALFileName(name) } catch { return .notPlanned }
        let plan = spool + "/plan"
        let descriptor = open(plan, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            // No plan: a spool from before plans, or none at all; only files present count.
            return (try? copy(file, spool: spool, sha256: nil, to: destination)) == true ? .delivered : .notPlanned
        }
        defer { Glibc.close(descriptor) }
        guard let contents = FileManager.default.contents(atPath: plan) else { return .abort("the restore's plan \(plan) cannot be read") }
        var expected: String?
        for line in String(decoding: contents, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == file.name { expected = String(fields[1]) }
        }
        guard let expected else { return .notPlanned }
        var pause = interval
        while true {
            do {
                if try copy(file, spool: spool, sha256: expected, to: destination) { return .delivered }
            } catch {
                return .abort((error as? RecoveryError)?.message ?? "\(error)")
            }
            // The restore holds an exclusive lock while it runs; a shared one granted means it is gone.
            if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
                flock(descriptor, LOCK_UN)
                if (try? copy(file, spool: spool, sha256: expected, to: destination)) == true { return .delivered }
                return .abort("the restore that was fetching \(file.name) is no longer running: recovery stops here rather than end early")
            }
            var time = timespec(tv_sec: Int(pause.components.seconds), tv_nsec: Int(pause.components.attoseconds / 1_000_000_000))
            nanosleep(&time, nil)
            pause = min(pause * 2, .milliseconds(400))
        }
    }

    /// Hands `NAME-SHA256` to `destination` after checking it still hashes to its name: a hard
    /// link made beside `destination` and renamed over it (a copy where a link cannot be made),
    /// never synced — PostgreSQL syncs what it keeps, and a crash re-runs recovery, which asks
    /// again. `false` when the file is not there (yet).
    ///
    /// Synced writes were what made restore_command slow: Foundation's `createFile` writes
    /// atomically with an fsync, about 0.2 s of waiting for each 16 MiB segment.
    private static func copy(_ file: WALFileName, spool: String, sha256 expected: String?, to destination: String) throws -> Bool {
        let found: String
        if let expected {
            found = file.name + "-" + expected
        } else {
            let prefix = file.name + "-"
            guard let name = ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).first(where: { $0.hasPrefix(prefix) && $0.count == prefix.count + 64 }) else { return false }
            found = name
        }
        let source = spool + "/" + found
        guard let contents = FileManager.default.contents(atPath: source) else { return false }
        guard WALArchive.sha256(of: Array(contents)) == String(found.dropFirst(file.name.count + 1)) else {
            throw RecoveryError(.validationFailed, "\(found) in the spool no longer matches its SHA-256: refused", target: found)
        }
        let temporary = destination + ".carbon-recovery-partial"
        unlink(temporary)
        if link(source, temporary) != 0 {
            // Another file system, or a link the kernel's hard-link protection refuses: a copy.
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw RecoveryError(.storageFailure, "could not write \(temporary): \(String(cString: strerror(errno)))", target: temporary) }
            let written = contents.withUnsafeBytes { FileDescriptorWrite.writeAll(descriptor, $0.bindMemory(to: UInt8.self)) }
            Glibc.close(descriptor)
            guard written else {
                unlink(temporary)
                throw RecoveryError(.storageFailure, "could not write \(temporary)", target: temporary)
            }
        }
        guard rename(temporary, destination) == 0 else {
            unlink(temporary)
            throw RecoveryError(.storageFailure, "could not move \(temporary) to \(destination)", target: destination)
        }
        return true
    }
}
