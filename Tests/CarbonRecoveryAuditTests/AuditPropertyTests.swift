// Random honest trails verify; random tampering of the database and of its export never does,
// and the problem names the entry `docs/audit-trail.md` ("Verification") says it names. The
// expected verdict of each forgery is computed from the spec's rules here, not read back from
// the verifier. Set CARBON_RECOVERY_PROPERTY_SEED to replay a run; every failure prints its seed.
import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Crypto
import Foundation
import TestSupport
import Testing

@Suite("Audit trail properties: honest trails pass, every forgery fails where the spec says")
struct AuditPropertyTests {
    /// What the spec says a verification of a forgery reports.
    enum Expected: Equatable, CustomStringConvertible {
        case valid
        case problem(AuditProblem.Kind, Int64?)

        var description: String {
            switch self {
            case .valid: "valid"
            case .problem(let kind, let sequence): "\(kind.rawValue) at \(sequence.map(String.init) ?? "-")"
            }
        }

        init(_ report: AuditVerificationReport) {
            self = report.problem.map { .problem($0.kind, $0.sequence) } ?? .valid
        }
    }

    /// One honest trail, closed, with what a forger and the spec need to know about it.
    struct Honest {
        let path: String
        let entries: [AuditEntry]
        let checkpoints: [Int64]
        let key: AuditSigningKey
        let origin: String
        var count: Int64 { Int64(entries.count) }
        /// The first checkpoint at or after `sequence`.
        func checkpoint(atOrAfter sequence: Int64) -> Int64? { checkpoints.first { $0 >= sequence } }
    }

    static let seed: UInt64 = ProcessInfo.processInfo.environment["CARBON_RECOVERY_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)

    @Test("40 random honest trails verify (with their key, and their export with the documented script); 200 random forgeries of the database fail, each naming the entry the spec names")
    func databaseForgeries() async throws {
        var random = SplitMix(state: Self.seed)
        let directory = try TemporaryDirectory()
        let verifier = directory.file("verify.py")
        try documentedExportVerifier().write(toFile: verifier, atomically: true, encoding: .utf8)
        for round in 0..<40 {
            let honest = try await Self.honestTrail(in: directory.file("trail-\(round)"), random: &random)
            let report = try await Self.verify(honest.path, key: honest.key)
            #expect(report.isValid && report.entriesChecked == honest.count, "seed \(Self.seed), round \(round): \(String(describing: report.problem))")
            #expect(report.checkpointsChecked == honest.checkpoints.count, "seed \(Self.seed), round \(round)")
            // The export, with its header, verifies with the documented script against the latest checkpoint.
            let export = directory.file("trail-\(round).jsonl")
            try await Self.export(honest, to: export)
            var arguments = [verifier, export]
            if let last = honest.checkpoints.last { arguments.append(try Self.writeNote(of: honest, size: last, to: directory.file("trail-\(round).note"))) }
            let script = try await run(try python3(), arguments)
            #expect(script.status == 0 && script.standardOutput.hasPrefix("verified \(honest.count) entries, head \(report.headHash)"),
                    "seed \(Self.seed), round \(round): \(script.standardOutput)\(script.standardError)")

            for attempt in 0..<5 {
                let copy = directory.file("forged-\(round)-\(attempt).db")
                try FileManager.default.copyItem(atPath: honest.path, toPath: copy)
                let forgery = try Self.forge(copy, from: honest, random: &random)
                let forged = try await Self.verify(copy, key: honest.key)
                #expect(Expected(forged) == forgery.expected,
                        "seed \(Self.seed), round \(round), \(forgery.name): expected \(forgery.expected), got \(String(describing: forged.problem))")
                if forgery.expected != .valid { #expect(!forged.isValid) }
                if let (note, expected) = forgery.external {
                    let reader = try await SQLiteAuditTrail(path: copy, configuration: .init(readOnly: true))
                    let against = try await reader.verify(checkpointNote: note, key: honest.key.verifierKey)
                    await reader.close()
                    #expect(Expected(against) == expected,
                            "seed \(Self.seed), round \(round), \(forgery.name), against the kept checkpoint: expected \(expected), got \(String(describing: against.problem))")
                }
                try? FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    @Test("random forgeries of a JSON Lines export fail the documented script, naming the entry; a checkpoint of another trail or past the export's end fails too")
    func exportForgeries() async throws {
        var random = SplitMix(state: Self.seed ^ 0x5EED)
        let directory = try TemporaryDirectory()
        let verifier = directory.file("verify.py")
        try documentedExportVerifier().write(toFile: verifier, atomically: true, encoding: .utf8)
        for round in 0..<12 {
            let honest = try await Self.honestTrail(in: directory.file("trail-\(round)"), random: &random)
            let export = directory.file("trail-\(round).jsonl")
            try await Self.export(honest, to: export)
            let lines = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            #expect(lines.count == honest.entries.count + 1)
            for attempt in 0..<6 {
                var forged = lines
                var note: String?
                let expectedMessage: String
                let n = Int(honest.count)
                switch attempt {
                case 0:  // a field of entry i edited
                    let i = Int.random(in: 1...n, using: &random)
                    var entry = honest.entries[i - 1]
                    entry.session += "x"
                    forged[i] = entry.jsonLine
                    expectedMessage = "entry \(i): hash mismatch"
                case 1:  // entry i edited and re-hashed: the next one no longer links
                    let i = Int.random(in: 1..<n, using: &random)
                    var entry = honest.entries[i - 1]
                    entry.target += " (edited)"
                    entry.hash = Self.hash(entry)
                    forged[i] = entry.jsonLine
                    expectedMessage = "entry \(i + 1): broken link"
                case 2:  // entry i removed
                    let i = Int.random(in: 1..<n, using: &random)
                    forged.remove(at: i)
                    expectedMessage = "entry \(i + 1): expected sequence \(i)"
                case 3:  // entries i and j swapped
                    let i = Int.random(in: 1..<n, using: &random)
                    let j = Int.random(in: (i + 1)...n, using: &random)
                    forged.swapAt(i, j)
                    expectedMessage = "entry \(j): expected sequence \(i)"
                case 4:  // the export of another trail offered with this trail's checkpoint
                    guard let last = honest.checkpoints.last else { continue }
                    note = try Self.writeNote(of: honest, size: last, to: directory.file("n-\(round).note"))
                    forged[0] = forged[0].replacingOccurrences(of: String(honest.origin.suffix(36)), with: UUID().uuidString.lowercased())
                    expectedMessage = "the checkpoint is of \(honest.origin), the export of carbon-recovery.audit/"
                default:  // the export cut before the checkpoint's size
                    guard let last = honest.checkpoints.last, last > 1 else { continue }
                    note = try Self.writeNote(of: honest, size: last, to: directory.file("n-\(round).note"))
                    forged = Array(forged.prefix(Int(last)))
                    expectedMessage = "the export ends before entry \(last), the checkpoint's size"
                }
                let path = directory.file("forged-\(round)-\(attempt).jsonl")
                try (forged.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                let result = try await run(try python3(), [verifier, path] + (note.map { [$0] } ?? []))
                #expect(result.status != 0, "seed \(Self.seed), round \(round), forgery \(attempt) passed: \(result.standardOutput)")
                #expect(result.standardError.contains(expectedMessage), "seed \(Self.seed), round \(round), forgery \(attempt): expected '\(expectedMessage)', got \(result.standardError)")
            }
        }
    }

    // MARK: - Honest trails

    /// Free text that exercises the encoding: quotes, backslashes, control characters (NUL too),
    /// combining marks (also after a comma or quote), CR LF, emoji sequences, bidi and line separators.
    static let pieces = [
        "a", "Z", "0", " ", ",", "\"", "\\", "/", "\n", "\r", "\r\n", "\t", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "é", "e\u{301}",
        ",\u{301}", "\"\u{308}", "ключ", "鍵", "😀", "👩‍👩‍👧", "\u{2028}", "\u{202E}", "\u{FEFF}", "=", "@", "{", "}", ":", "null",
    ]

    static func text(_ random: inout SplitMix, maximum: Int = 6) -> String {
        (0..<Int.random(in: 0...maximum, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    static func honestTrail(in folder: String, random: inout SplitMix) async throws -> Honest {
        let path = folder + "/audit.db"
        let key = AuditSigningKey.generate(name: "prop-key")
        let trail = try await SQLiteAuditTrail(
            path: path, configuration: .init(checkpointInterval: Int64.random(in: 3...7, using: &random), signingKey: key))
        let pairs = Int.random(in: 4...15, using: &random)
        var pending: [AuditRecord] = []
        for index in 0..<pairs {
            let actor = AuditActor(user: "u" + text(&random), cluster: Bool.random(using: &random) ? text(&random) : nil)
            let operation = "op." + text(&random)
            let target = text(&random)
            let id = "c\(index)" + text(&random, maximum: 2)
            pending.append(.attempt(
                operation: operation, target: target, parameters: ["note": .string(text(&random)), "n": .integer(Int64(index))], actor: actor,
                correlationID: id))
            let outcome = [AuditOutcome.success, .failure, .abandoned].randomElement(using: &random)!
            pending.append(.outcome(
                outcome, operation: operation, target: target, error: outcome == .success ? nil : text(&random),
                durationMilliseconds: Bool.random(using: &random) ? Int64.random(in: 0...1_000_000, using: &random) : nil,
                actor: actor, correlationID: id))
            // Appends in random batches: one transaction or several.
            if Bool.random(using: &random) || index == pairs - 1 {
                _ = try await trail.record(contentsOf: pending)
                pending = []
            }
        }
        if Bool.random(using: &random) { _ = try await trail.checkpoint() }
        let entries = try await trail.entries(matching: AuditQuery(limit: 1000)).entries
        let origin = trail.checkpointOrigin
        await trail.close()
        let sizes = RawSQL.column(path, "SELECT size FROM audit_checkpoints ORDER BY size").compactMap { Int64($0) }
        return Honest(path: path, entries: entries, checkpoints: sizes, key: key, origin: origin)
    }

    static func verify(_ path: String, key: AuditSigningKey) async throws -> AuditVerificationReport {
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true, verifierKey: key.verifierKey))
        defer { Task { await trail.close() } }
        return try await trail.verify()
    }

    static func export(_ honest: Honest, to file: String) async throws {
        let trail = try await SQLiteAuditTrail(path: honest.path, configuration: .init(readOnly: true))
        var text = ""
        try await trail.export(.jsonl, header: trail.exportHeader) { text += $0 }
        await trail.close()
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    static func writeNote(of honest: Honest, size: Int64, to file: String) throws -> String {
        let note = try #require(RawSQL.column(honest.path, "SELECT note FROM audit_checkpoints WHERE size = \(size)").first)
        try note.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func hash(_ entry: AuditEntry) -> String {
        SHA256.hash(data: entry.canonicalBytes(includingHash: false)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Forgeries of the database, and what the spec says of each

    /// Applies one random forgery to the trail file at `path`; returns its name and the verdict the spec gives.
    static func forge(_ path: String, from honest: Honest, random: inout SplitMix) throws -> Forgery {
        let n = honest.count
        let drop = RawSQL.dropTriggers.replacingOccurrences(of: "DROP TRIGGER ", with: "DROP TRIGGER IF EXISTS ")
        func pick(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &random) }
        func exec(_ sql: String, _ bindings: [RawSQL.Value] = []) throws {
            if let error = RawSQL.exec(path, sql, bindings) { throw RecoveryError.invalidInput("forgery SQL failed: \(error): \(sql)") }
        }
        /// Writes entries `from…n` of `entries` back, re-chained from `from` on (each `prev_hash`,
        /// each `hash`); returns the trail's entries as they now are.
        @discardableResult
        func rechain(_ entries: [AuditEntry], from: Int64) throws -> [AuditEntry] {
            var entries = entries
            var previous = from == 1 ? AuditCanonicalEncoding.genesisHash : entries[Int(from) - 2].hash
            for index in Int(from - 1)..<entries.count {
                entries[index].previousHash = previous
                entries[index].hash = hash(entries[index])
                let entry = entries[index]
                try exec(drop + "UPDATE audit_entries SET actor = ?1, target = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?5",
                         [.text(entry.actor), .text(entry.target), .text(entry.previousHash), .text(entry.hash), .integer(entry.sequence)])
                previous = entry.hash
            }
            return entries
        }
        /// Replaces the Merkle tree with the one `entries` make (RFC 9162, stored as
        /// docs/audit-trail.md says: each row the hashes its leaf completes).
        func rebuildTree(_ entries: [AuditEntry]) throws {
            func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
            var edge: [(level: Int, hash: [UInt8])] = []
            var sql = drop
            for entry in entries {
                var level = 0, node = MerkleTree.leafHash(Array(entry.jsonLine.utf8))
                var hashes = node
                while let last = edge.last, last.level == level {
                    edge.removeLast()
                    node = MerkleTree.nodeHash(last.hash, node)
                    level += 1
                    hashes += node
                }
                edge.append((level, node))
                sql += "UPDATE audit_entries SET tree = x'\(hex(hashes))' WHERE seq = \(entry.sequence);"
            }
            try exec(sql)
        }
        let columns = ["actor", "target", "parameters", "correlation_id", "session", "operation"]
        switch Int.random(in: 0...12, using: &random) {
        case 12:
            // An entry appended by hand: a copy of the last one at the next seq, re-hashed, but
            // linked to what the copied entry linked to.
            var entry = honest.entries[Int(n) - 1]
            entry.sequence = n + 1
            entry.hash = hash(entry)
            try exec("CREATE TEMP TABLE r AS SELECT * FROM audit_entries WHERE seq = \(n); UPDATE r SET seq = \(n + 1), hash = ?1; INSERT INTO audit_entries SELECT * FROM r;",
                     [.text(entry.hash)])
            return Forgery("an entry appended at \(n + 1)", .problem(.brokenLink, n + 1))
        case 0:
            let i = pick(1...n)
            let column = columns.randomElement(using: &random)!
            try exec(drop + "UPDATE audit_entries SET \(column) = \(column) || ?1 WHERE seq = ?2", [.text("✎" + text(&random)), .integer(i)])
            return Forgery("edit \(column) of \(i)", .problem(.hashMismatch, i))
        case 1:
            let i = pick(1...n)
            var entries = honest.entries
            entries[Int(i) - 1].actor += " (forged)"
            entries[Int(i) - 1].hash = hash(entries[Int(i) - 1])
            try exec(drop + "UPDATE audit_entries SET actor = ?1, hash = ?2 WHERE seq = ?3",
                     [.text(entries[Int(i) - 1].actor), .text(entries[Int(i) - 1].hash), .integer(i)])
            // Its leaf in the tree is checked at the entry itself, before the next link and any checkpoint.
            return Forgery("re-hashed edit of \(i)", .problem(.treeMismatch, i))
        case 2:
            let i = pick(1...n)
            var entries = honest.entries
            entries[Int(i) - 1].target = "rewritten/" + text(&random)
            try rechain(entries, from: i)
            // A consistent chain, but not the tree: the first rewritten entry's leaf.
            return Forgery("history rewritten from \(i)", .problem(.treeMismatch, i))
        case 3:
            let i = pick(1...n)
            try exec(drop + "DELETE FROM audit_entries WHERE seq = ?1", [.integer(i)])
            if i < n { return Forgery("delete \(i)", .problem(.sequenceGap, i + 1)) }
            return Forgery("delete the last, \(i)", honest.checkpoints.contains { $0 > n - 1 } ? .problem(.truncated, n) : .valid)
        case 4:
            let m = pick(1...(n - 1))
            try exec(drop + "DELETE FROM audit_entries WHERE seq > ?1", [.integer(m)])
            return Forgery("truncate to \(m)", honest.checkpoints.contains { $0 > m } ? .problem(.truncated, m + 1) : .valid)
        case 5:
            let i = pick(1...(n - 1))
            let j = pick((i + 1)...n)
            let swapped = "v, time, kind, actor, cluster, operation, target, parameters, outcome, error, duration_ms, correlation_id, session, prev_hash, hash"
            try exec(drop + """
                CREATE TEMP TABLE a AS SELECT \(swapped) FROM audit_entries WHERE seq = \(i);
                CREATE TEMP TABLE b AS SELECT \(swapped) FROM audit_entries WHERE seq = \(j);
                DELETE FROM audit_entries WHERE seq IN (\(i), \(j));
                INSERT INTO audit_entries (seq, \(swapped)) SELECT \(i), * FROM b;
                INSERT INTO audit_entries (seq, \(swapped)) SELECT \(j), * FROM a;
                """)
            return Forgery("swap \(i) and \(j)", .problem(.brokenLink, i))
        case 6:
            let below = -pick(0...5)
            try exec("CREATE TEMP TABLE r AS SELECT * FROM audit_entries WHERE seq = 1; UPDATE r SET seq = \(below); INSERT INTO audit_entries SELECT * FROM r;")
            return Forgery("a row at seq \(below)", .problem(.rowOutsideChain, below))
        case 7:
            let i = pick(1...n)
            let isAttempt = honest.entries[Int(i) - 1].kind == .attempt
            let changes = [
                "v = 2", "v = 0", "duration_ms = -1", "duration_ms = 1.5", "kind = 'maybe'", "time = '2026-12-03 10:00:00'",
                "actor = CAST(X'C3' AS TEXT)", "target = CAST(X'EDA080' AS TEXT)", "error = CAST(X'FF' AS TEXT)", "parameters = CAST('{}' AS BLOB)",
                "cluster = X'00'", isAttempt ? "outcome = 'success'" : "outcome = 'maybe'", isAttempt ? "kind = 'outcome'" : "outcome = NULL",
            ]
            let change = changes.randomElement(using: &random)!
            try exec(drop + "UPDATE audit_entries SET \(change) WHERE seq = ?1", [.integer(i)])
            return Forgery("\(change) at \(i)", .problem(.malformed, i))
        case 8, 9:
            guard let c = honest.checkpoints.randomElement(using: &random) else { return try forge(path, from: honest, random: &random) }
            let body = AuditCheckpointBody(origin: honest.origin, size: c, headHash: honest.entries[Int(c) - 1].hash)
            let attacker = AuditSigningKey.generate(name: honest.key.name)  // same name, other key
            let notes = [
                try AuditCheckpoint.sign(origin: honest.origin, size: c, headHash: body.headHash, key: attacker).note,  // re-signed
                body.text + "\n",  // unsigned
                "not a note",
            ]
            if Bool.random(using: &random) {
                try exec(drop + "UPDATE audit_checkpoints SET note = ?1 WHERE size = ?2", [.text(notes.randomElement(using: &random)!), .integer(c)])
                return Forgery("checkpoint \(c)'s note replaced", .problem(.badSignature, c))
            }
            // The column beside an honest note changed: the two must agree.
            try exec(drop + "UPDATE audit_checkpoints SET root_hash = ?1 WHERE size = ?2", [.text(String(repeating: "ab", count: 32)), .integer(c)])
            return Forgery("checkpoint \(c)'s root_hash column changed", .problem(.badSignature, c))
        case 10:
            let s = pick(1...n)
            guard !honest.checkpoints.contains(s) else { return try forge(path, from: honest, random: &random) }
            let attacker = AuditSigningKey.generate(name: honest.key.name)
            let note = try AuditCheckpoint.sign(origin: honest.origin, size: s, headHash: honest.entries[Int(s) - 1].hash, key: attacker).note
            try exec("INSERT INTO audit_checkpoints (size, head_hash, time, note) VALUES (?1, ?2, '2026-12-03T00:00:00.000Z', ?3)",
                     [.integer(s), .text(honest.entries[Int(s) - 1].hash), .text(note)])
            return Forgery("a checkpoint at \(s) by another key", .problem(.badSignature, s))
        default:
            // Every stored checkpoint removed and the history rewritten from i, its tree rebuilt:
            // the trail alone cannot tell; the same check against a checkpoint kept outside it is below.
            let i = pick(1...n)
            var entries = honest.entries
            entries[Int(i) - 1].actor = "mallory"
            try rebuildTree(try rechain(entries, from: i))
            let kept = honest.checkpoints.last.flatMap { size in RawSQL.column(path, "SELECT note FROM audit_checkpoints WHERE size = \(size)").first.map { (size, $0) } }
            try exec(drop + "DELETE FROM audit_checkpoints")
            var forgery = Forgery("checkpoints removed, history rewritten from \(i)", .valid)
            if let (size, note) = kept { forgery.external = (note, i <= size ? .problem(.checkpointMismatch, size) : .valid) }
            return forgery
        }
    }
}

/// A forgery: what was done, the verdict the spec gives, and the verdict against a checkpoint
/// kept outside the trail when there is one.
struct Forgery {
    var name: String
    var expected: AuditPropertyTests.Expected
    var external: (note: String, expected: AuditPropertyTests.Expected)?

    init(_ name: String, _ expected: AuditPropertyTests.Expected) {
        self.name = name
        self.expected = expected
    }
}

/// A checkpoint's signed body, built the way the spec says (for forgeries that need one).
struct AuditCheckpointBody {
    var origin: String
    var size: Int64
    var headHash: String
    var text: String {
        let bytes = stride(from: 0, to: headHash.count, by: 2).map { offset -> UInt8 in
            let start = headHash.index(headHash.startIndex, offsetBy: offset)
            return UInt8(headHash[start..<headHash.index(start, offsetBy: 2)], radix: 16)!
        }
        return "\(origin)\n\(size)\n\(Data(bytes).base64EncodedString())\n"
    }
}
