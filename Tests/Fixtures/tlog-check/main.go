// tlog-check verifies a CarbonRecovery audit proof file (docs/audit-trail.md, "Proofs") with Go's
// own golang.org/x/mod/sumdb/note (the signed checkpoint notes) and sumdb/tlog (the RFC 9162
// inclusion and consistency proofs): an implementation nobody in this project wrote, from
// Debian's golang-golang-x-mod-dev. The C2SP checkpoint body (origin, size, base64 root) is
// parsed here, because tlog.ParseTree expects the Go checksum database's body.
//
// Built in GOPATH mode by the tests:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlog-check main.go
//
// Usage: tlog-check <verifier key file> <proof file>. Prints one line saying what was proved
// and exits 0, or prints why not and exits 1.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// reader walks the proof file's lines.
type reader struct{ data []byte }

func (r *reader) line() (string, error) {
	i := bytes.IndexByte(r.data, '\n')
	if i < 0 {
		return "", errors.New("a line does not end with LF")
	}
	line := string(r.data[:i])
	r.data = r.data[i+1:]
	return line, nil
}

func (r *reader) peek(prefix string) bool { return bytes.HasPrefix(r.data, []byte(prefix)) }

func (r *reader) note(verifier note.Verifier) (checkpoint, error) {
	line, err := r.line()
	if err != nil || !strings.HasPrefix(line, "checkpoint ") {
		return checkpoint{}, fmt.Errorf("expected a checkpoint line, got %q", line)
	}
	count, err := strconv.Atoi(strings.TrimPrefix(line, "checkpoint "))
	if err != nil || count <= 0 || count > len(r.data) {
		return checkpoint{}, fmt.Errorf("bad checkpoint length %q", line)
	}
	msg := r.data[:count]
	r.data = r.data[count:]
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("note: %v", err)
	}
	body := strings.Split(n.Text, "\n")
	if len(body) < 4 || body[len(body)-1] != "" {
		return checkpoint{}, fmt.Errorf("the checkpoint body is not origin, size, root: %q", n.Text)
	}
	size, err := strconv.ParseInt(body[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != body[1] {
		return checkpoint{}, fmt.Errorf("bad tree size %q", body[1])
	}
	root, err := tlog.ParseHash(body[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("bad root hash %q", body[2])
	}
	return checkpoint{origin: body[0], size: size, root: root}, nil
}

func (r *reader) hashes() ([]tlog.Hash, error) {
	var hashes []tlog.Hash
	for r.peek("hash ") {
		line, _ := r.line()
		h, err := tlog.ParseHash(strings.TrimPrefix(line, "hash "))
		if err != nil {
			return nil, fmt.Errorf("bad hash line %q", line)
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

func check(keyFile, proofFile string) (string, error) {
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		return "", fmt.Errorf("verifier key: %v", err)
	}
	data, err := os.ReadFile(proofFile)
	if err != nil {
		return "", err
	}
	r := &reader{data: data}
	if line, err := r.line(); err != nil || line != "carbon-recovery audit proof v1" {
		return "", fmt.Errorf("not a proof file: %q", line)
	}
	kind, err := r.line()
	if err != nil {
		return "", err
	}
	switch kind {
	case "inclusion":
		line, err := r.line()
		if err != nil || !strings.HasPrefix(line, "index ") {
			return "", fmt.Errorf("expected the index line, got %q", line)
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(line, "index "), 10, 64)
		if err != nil {
			return "", err
		}
		entry, err := r.line()
		if err != nil || !strings.HasPrefix(entry, "entry ") {
			return "", fmt.Errorf("expected the entry line")
		}
		entry = strings.TrimPrefix(entry, "entry ")
		var fields struct{ Seq int64 }
		if err := json.Unmarshal([]byte(entry), &fields); err != nil || fields.Seq != index+1 {
			return "", fmt.Errorf("the entry's seq is not index + 1")
		}
		path, err := r.hashes()
		if err != nil {
			return "", err
		}
		c, err := r.note(verifier)
		if err != nil {
			return "", err
		}
		if len(r.data) != 0 {
			return "", errors.New("bytes after the checkpoint")
		}
		if err := tlog.CheckRecord(tlog.RecordProof(path), c.size, c.root, index, tlog.RecordHash([]byte(entry))); err != nil {
			return "", fmt.Errorf("tlog.CheckRecord: %v", err)
		}
		return fmt.Sprintf("inclusion ok: entry %d in %s at size %d", index+1, c.origin, c.size), nil
	case "consistency":
		proof, err := r.hashes()
		if err != nil {
			return "", err
		}
		older, err := r.note(verifier)
		if err != nil {
			return "", err
		}
		newer, err := r.note(verifier)
		if err != nil {
			return "", err
		}
		if len(r.data) != 0 {
			return "", errors.New("bytes after the newer checkpoint")
		}
		if older.origin != newer.origin {
			return "", errors.New("the checkpoints are of different logs")
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), newer.size, newer.root, older.size, older.root); err != nil {
			return "", fmt.Errorf("tlog.CheckTree: %v", err)
		}
		return fmt.Sprintf("consistency ok: %s size %d extends size %d", newer.origin, newer.size, older.size), nil
	}
	return "", fmt.Errorf("unknown proof kind %q", kind)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tlog-check <verifier key file> <proof file>")
		os.Exit(2)
	}
	result, err := check(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	fmt.Println(result)
}
