// `carbon-recovery witness serve` as three real processes on 127.0.0.1, `audit cosign` and
// `audit verify --require-cosignatures` against a real trail file; one witness is restarted
// mid-test; a rewritten trail re-signed with the writer's own key is refused by all three.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

@Suite("carbon-recovery witness")
struct WitnessCLITests {
    let directory: TemporaryDirectory
    let keys: TemporaryDirectory
    let cli: String

    init() throws {
        directory = try TemporaryDirectory()
        keys = try TemporaryDirectory()
        cli = try executable("carbon-recovery")
    }

    var environment: [String: String] { ["HOME": keys.path, "XDG_STATE_HOME": keys.file("state")] }

    func carbon(_ arguments: [String]) async throws -> ProcessResult {
        try await run(cli, arguments, environment: environment)
    }

    /// Starts `witness serve` on `port` and waits until it listens.
    func serve(_ index: Int, port: Int, origin: String, trailKey: String, extra: [String] = []) async throws -> CLIProcess {
        let process = try CLIProcess(
            ["witness", "serve", "--key", keys.file("w\(index).key"), "--state", directory.file("w\(index).db"),
             "--trail", "\(origin)=\(trailKey)", "--port", String(port)] + extra,
            environment: environment)
        _ = try await process.waitForLine(timeout: .seconds(30)) { $0.contains("listening on http://127.0.0.1:\(port)/add-checkpoint") }
        return process
    }

    @Test("three witness processes cosign a growing trail (one restarted between), K of N verifies, and a fork re-signed with the trail's key is refused by all three")
    func witnessesAndFork() async throws {
        let database = directory.file("audit.db")
        let signingKey = keys.file("audit-signing.key")
        let trailKey = keys.file("audit.pub")
        try await fill(database, pairs: 6, tag: "first")
        let made = try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", signingKey, "--public-key-file", trailKey, "--output", "json"])
        #expect(made.status == 0, "\(made.standardError)")
        let origin = try #require(try JSONValue(parsing: Array(made.standardOutput.utf8))["origin"]?.stringValue)

        var witnessFlags: [String] = []
        var keyFlags: [String] = []
        var ports: [Int] = []
        var servers: [CLIProcess] = []
        for index in 1...3 {
            let keygen = try await carbon(["witness", "keygen", "--key", keys.file("w\(index).key"), "--name", "witness.test/w\(index)"])
            #expect(keygen.status == 0 && keygen.standardOutput.hasPrefix("witness.test/w\(index)+"), "\(keygen.standardError)")
            #expect((try FileManager.default.attributesOfItem(atPath: keys.file("w\(index).key"))[.posixPermissions] as? Int) == 0o600)
            let port = try ListeningSocket.unusedPort()
            ports.append(port)
            servers.append(try await serve(index, port: port, origin: origin, trailKey: trailKey))
            witnessFlags += ["--witness", "http://127.0.0.1:\(port)/add-checkpoint=\(keys.file("w\(index).key.pub"))"]
            keyFlags += ["--witness-key", keys.file("w\(index).key.pub")]
        }
        defer { for server in servers { server.kill() } }

        let first = try await carbon(["audit", "cosign", "--audit-db", database, "--signing-key", signingKey] + witnessFlags)
        #expect(first.status == 0 && first.standardOutput.components(separatedBy: "ok     ").count == 4, "\(first.standardOutput)\(first.standardError)")
        let verified = try await carbon(["audit", "verify", "--audit-db", database, "--public-key", trailKey, "--require-cosignatures", "3"] + keyFlags)
        #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")

        // A copy of the trail now: the fork starts from here.
        try copyDatabase(database, to: directory.file("fork.db"))

        // Witness 2 stops and starts again on its port; the trail grows and is cosigned again.
        servers[1].kill()
        servers[1] = try await serve(2, port: ports[1], origin: origin, trailKey: trailKey)
        try await fill(database, pairs: 5, tag: "honest")
        #expect(try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", signingKey]).status == 0)
        let second = try await carbon(["audit", "cosign", "--audit-db", database, "--signing-key", signingKey, "--output", "json"] + witnessFlags)
        #expect(second.status == 0, "\(second.standardOutput)\(second.standardError)")
        #expect(try await carbon(["audit", "verify", "--audit-db", database, "--public-key", trailKey, "--require-cosignatures", "3"] + keyFlags).status == 0)

        // The fork: the copy goes on with other entries, past the honest size, signed with the trail's own key.
        let fork = directory.file("fork.db")
        try await fill(fork, pairs: 9, tag: "forged")
        #expect(try await carbon(["audit", "checkpoint", "--audit-db", fork, "--signing-key", signingKey]).status == 0)
        let refused = try await carbon(["audit", "cosign", "--audit-db", fork, "--signing-key", signingKey] + witnessFlags)
        #expect(refused.status == 1)
        #expect(refused.standardOutput.components(separatedBy: "refused (HTTP 422)").count == 4, "\(refused.standardOutput)\(refused.standardError)")
        let alone = try await carbon(["audit", "verify", "--audit-db", fork, "--public-key", trailKey])
        #expect(alone.status == 0, "on its own the fork verifies: \(alone.standardOutput)")
        let required = try await carbon(["audit", "verify", "--audit-db", fork, "--public-key", trailKey, "--require-cosignatures", "2", "--output", "json"] + keyFlags)
        #expect(required.status == 1)
        #expect(required.standardOutput.contains("\"kind\":\"insufficient-cosignatures\""), "\(required.standardOutput)")
    }

    @Test("the witness answers other paths 404, other methods 405, a body over 64 KiB 413; bad options are clear errors")
    func httpAndOptions() async throws {
        let trailKey = keys.file("audit.pub")
        try (AuditSigningKey.generate().verifierKey.text + "\n").write(toFile: trailKey, atomically: true, encoding: .utf8)
        #expect(try await carbon(["witness", "keygen", "--key", keys.file("w1.key"), "--name", "witness.test/w1"]).status == 0)
        let again = try await carbon(["witness", "keygen", "--key", keys.file("w1.key"), "--name", "witness.test/w1"])
        #expect(again.status != 0 && again.standardError.contains("exists"), "\(again.standardError)")
        let port = try ListeningSocket.unusedPort()
        let server = try await serve(1, port: port, origin: "carbon-recovery.audit/x", trailKey: trailKey, extra: ["--request-timeout", "1"])
        defer { server.kill() }
        // A client that never finishes its request is cut off after the timeout.
        let idle = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"POST /add-checkpoint HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\nold")
            s.settimeout(20)
            started = time.time()
            data = s.recv(100)
            print("closed" if data == b"" else "answered", round(time.time() - started))
            """
        let cut = try await run(try python3(), ["-c", idle, String(port)])
        let seconds = Int(cut.standardOutput.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        #expect(cut.standardOutput.hasPrefix("closed") && (1...10).contains(seconds), "cut off by the timeout, not at once: \(cut.standardOutput)\(cut.standardError)")
        let script = """
            import sys, urllib.request, urllib.error
            url, method, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
            try:
                r = urllib.request.urlopen(urllib.request.Request(url, data=(b"A" * size) if method == "POST" else None, method=method))
                print(r.status)
            except urllib.error.HTTPError as e:
                print(e.code, e.read().decode().strip())
            """
        for (path, method, size, status) in [("/add-checkpoint", "GET", 0, "405"), ("/other", "POST", 10, "404"), ("/add-checkpoint", "POST", 70_000, "413"), ("/add-checkpoint", "POST", 10, "400")] {
            let answer = try await run(try python3(), ["-c", script, "http://127.0.0.1:\(port)\(path)", method, String(size)])
            #expect(answer.standardOutput.hasPrefix(status), "\(method) \(path): \(answer.standardOutput)\(answer.standardError)")
        }
        for (arguments, message) in [
            (["witness", "serve", "--key", keys.file("w1.key"), "--state", directory.file("s.db")], "--trail"),
            (["witness", "serve", "--key", keys.file("w1.key"), "--state", directory.file("s.db"), "--trail", "o=\(trailKey)", "--request-timeout", "0"], "--request-timeout must be"),
            (["witness", "serve", "--key", trailKey, "--state", directory.file("s.db"), "--trail", "o=\(trailKey)"], "not a private cosignature/v1 key"),
            (["witness", "serve", "--key", keys.file("w1.key"), "--state", directory.file("s.db"), "--trail", "o=\(keys.file("w1.key.pub"))"], "not an Ed25519 note verifier key"),
            (["audit", "verify", "--audit-db", directory.file("none.db"), "--require-cosignatures", "1"], "--require-cosignatures needs"),
            (["audit", "cosign", "--audit-db", directory.file("none.db"), "--witness", "x=y"], "no audit trail"),
        ] {
            let result = try await carbon(arguments)
            #expect(result.status != 0 && result.standardError.contains(message), "\(arguments): \(result.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("s.db")), "a refused start created no state")
    }
}

/// Appends `pairs` pairs to the trail at `path` (created when missing), then closes it.
private func fill(_ path: String, pairs: Int, tag: String) async throws {
    let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil))
    let actor = AuditActor(user: "alice", cluster: "admin@sandbox")
    var records: [AuditRecord] = []
    for index in 0..<pairs {
        let id = "\(tag)-\(index)"
        records.append(.attempt(operation: "backup.create", target: "backup/\(id)", parameters: [:], actor: actor, correlationID: id))
        records.append(.outcome(.success, operation: "backup.create", target: "backup/\(id)", error: nil, durationMilliseconds: 1, actor: actor, correlationID: id))
    }
    _ = try await trail.record(contentsOf: records)
    await trail.close()
}
