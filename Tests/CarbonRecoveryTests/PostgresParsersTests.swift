// The parsers a restore trusts: WAL positions, base backup manifests and pg_basebackup's tar.
// Each is table-tested and fuzzed: bad input is a clear error, never a crash or a path outside
// the data folder.
import CarbonRecovery
import CarbonRecoveryCompression
@testable import CarbonRecoveryPostgres
import Foundation
import Testing
import TestSupport

@Suite("PostgreSQL parsers: LSN, base backup manifest, base backup tar")
struct PostgresParsersTests {
    @Test("LSNs read and print as PostgreSQL does, and name their segment", arguments: [
        ("0/0", UInt64(0)), ("0/3000028", 0x300_0028), ("1/0", 1 << 32), ("FFFFFFFF/FFFFFFFF", UInt64.max), ("a/b", 0xA_0000_000B),
    ])
    func lsn(text: String, value: UInt64) throws {
        let lsn = try LSN(parsing: text)
        #expect(lsn.value == value && lsn.description == text.uppercased())
    }

    @Test("bad LSNs are refused", arguments: ["", "0", "0/", "/0", "0/0/0", "g/0", "123456789/0", " 0/1", "0/1 ", "-1/0", "+1/0"])
    func badLSN(text: String) {
        #expect(throws: RecoveryError(.invalidInput, "")) { try LSN(parsing: text) }
    }

    @Test("an LSN names the segment that holds it")
    func segmentOfLSN() throws {
        #expect(try LSN(parsing: "0/3000028").segment(timeline: 1, segmentSize: 16 << 20) == "000000010000000000000003")
        #expect(try LSN(parsing: "1/FF000000").segment(timeline: 2, segmentSize: 16 << 20) == "0000000200000001000000FF")
    }

    @Test("a timeline history file names the ancestors a restore follows")
    func history() {
        let text = "1\t0/3000000\tno recovery target specified\n\n2\t0/9000000\tbefore 2026-12-04 14:03:27.000+00\n# comment\n"
        #expect(PointInTimeRecovery.ancestors(inHistory: Array(text.utf8)) == [1, 2])
        #expect(PointInTimeRecovery.switchPoints(inHistory: Array(text.utf8)) == [1: LSN(0x300_0000), 2: LSN(0x900_0000)], "where each ancestor was left")
        #expect(PointInTimeRecovery.ancestors(inHistory: Array("garbage\n\u{0}\n-1\t0/0\n".utf8)).isEmpty)
    }

    func manifest() throws -> BaseBackup {
        BaseBackup(
            id: "20261204T180157448Z", key: "postgres/main/base/20261204T180157448Z/base.tar.gz", sha256: String(repeating: "ab", count: 32), bytes: 1000,
            storedBytes: 100, compression: .gzip, timeline: 1, startLSN: try LSN(parsing: "0/2000028"), stopLSN: try LSN(parsing: "0/2000100"),
            startSegment: "000000010000000000000002", stopSegment: "000000010000000000000002", walSegmentSize: 16 << 20,
            startTime: Date(timeIntervalSince1970: 1_780_000_000), stopTime: Date(timeIntervalSince1970: 1_780_000_004), files: 967, serverVersion: 150_018)
    }

    @Test("a base backup manifest round-trips; every damaged field is refused naming it")
    func manifestRoundTrip() throws {
        let backup = try manifest()
        #expect(try BaseBackup(json: try JSONValue(parsing: Array(backup.json.canonicalString.utf8))) == backup)
        guard case .object(let fields) = backup.json else { Issue.record("not an object"); return }
        for (name, bad) in [("sha256", JSONValue.string("AB")), ("timeline", 0), ("startLSN", "0/x"), ("stopSegment", "00000001.history"),
                            ("stopTime", "yesterday"), ("compression", "zstd"), ("format", 2), ("bytes", -1), ("id", 5)] {
            var damaged = fields
            damaged[name] = bad
            #expect(throws: RecoveryError.self, "\(name)") { try BaseBackup(json: .object(damaged)) }
            damaged[name] = nil
            #expect(throws: RecoveryError.self, "\(name) missing") { try BaseBackup(json: .object(damaged)) }
        }
    }

    @Test("the tar reader finds members and refuses absolute paths, '..', damaged headers and truncation")
    func tarMembers() throws {
        let data = Array("hello".utf8)
        let good = tarHeader("base/1/PG_VERSION", size: data.count) + data + [UInt8](repeating: 0, count: 507) + tarHeader("pg_wal", size: 0, type: UInt8(ascii: "5")) + [UInt8](repeating: 0, count: 1024)
        let members = try BaseBackupTar.members(good)
        #expect(members.map(\.path) == ["base/1/PG_VERSION", "pg_wal"] && Array(good[members[0].range]) == data)
        for path in ["/etc/passwd", "../x", "base/../../x"] {
            #expect(throws: RecoveryError(.invalidObject, "")) { try BaseBackupTar.members(tarHeader(path, size: 0) + [UInt8](repeating: 0, count: 1024)) }
        }
        var damaged = good
        damaged[0] ^= 1
        #expect(throws: RecoveryError(.invalidObject, "")) { try BaseBackupTar.members(damaged) }
        #expect(throws: RecoveryError(.invalidObject, "")) { try BaseBackupTar.members(Array(good.prefix(515))) }
    }

    @Test("fuzz: mutated tars and manifests never crash, and no accepted member leaves the data folder")
    func fuzz() throws {
        var random = SplitMix(state: 0x16_7A12)
        let data = Array("0123456789".utf8)
        let seed = tarHeader("global/pg_control", size: data.count) + data + [UInt8](repeating: 0, count: 502) + tarHeader("base", size: 0, type: UInt8(ascii: "5"))
            + [UInt8](repeating: 0, count: 1024)
        for _ in 0..<10_000 {
            var bytes = seed
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let index = Int(random.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 8 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            guard let members = try? BaseBackupTar.members(bytes) else { continue }
            for member in members {
                #expect(!member.path.hasPrefix("/") && !member.path.split(separator: "/").contains("..") && member.range.upperBound <= bytes.count)
            }
        }
        let text = Array(try manifest().json.canonicalString.utf8)
        for _ in 0..<5_000 {
            var bytes = text
            let index = Int(random.next() % UInt64(bytes.count))
            bytes[index] = UInt8(truncatingIfNeeded: random.next() % 128)
            guard let json = try? JSONValue(parsing: bytes) else { continue }
            _ = try? BaseBackup(json: json)
        }
    }

    @Test("a restore's target time is written to the microsecond, rounded: a millisecond held as .xxx999… in a Date stays itself")
    func targetTimestamp() throws {
        for text in ["2026-12-04T14:03:27.346Z", "2026-12-04T14:03:27.001Z", "2026-12-31T23:59:59.999Z", "1969-12-31T23:59:59.500Z"] {
            let date = try #require(RFC3339.parse(text))
            let expected = text.prefix(10) + " " + text.dropFirst(11).prefix(12) + "000+00"
            #expect(PointInTimeRecovery.postgresTimestamp(date) == expected, "\(text)")
        }
        #expect(PointInTimeRecovery.postgresTimestamp(Date(timeIntervalSince1970: 1_764_900_000.000_001)) == "2025-12-05 02:00:00.000001+00")
        #expect(PointInTimeRecovery.postgresTimestamp(Date(timeIntervalSince1970: 1_764_900_000.999_9996)) == "2025-12-05 02:00:01.000000+00")
    }

    @Test("a free port is a real port on 127.0.0.1 outside the ephemeral range outgoing connections take theirs from")
    func freePort() throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(range.count == 2)
        for _ in 0..<50 {
            let port = try PointInTimeRecovery.freePort()
            #expect((1024...65_535).contains(port) && !(range[0]...range[1]).contains(port), "\(port) vs \(range)")
        }
    }

    @Test("gunzip stops at the size a file may have: a small object that expands past it is refused, not held in memory")
    func gunzipLimit() throws {
        let bomb = try Gzip.compress([UInt8](repeating: 0, count: 4 << 20))
        #expect(bomb.count < 64 << 10, "4 MiB of zeros compress to \(bomb.count) bytes")
        let error = #expect(throws: RecoveryError.self) { try Gzip.decompress(bomb, limit: 1 << 20) }
        #expect(error?.code == .invalidObject && error?.message.contains("expands beyond 1048576 bytes") == true, "\(String(describing: error))")
        #expect(try Gzip.decompress(bomb, limit: 4 << 20).count == 4 << 20, "exactly the limit is fine")
        let garbage = #expect(throws: RecoveryError.self) { try Gzip.decompress([0x1f, 0x8b, 1, 2, 3], limit: 100) }
        #expect(garbage?.message.hasPrefix("not a gzip stream") == true)
    }
}
