// A base backup streams from pg_basebackup to storage without being held: gzip over chunks, a
// tar reader that reads a header at a time, and the stream that hashes, reads and compresses on
// the way. Each is checked against the whole-buffer version at every way of splitting the
// input, and fuzzed.
import CarbonRecovery
import CarbonRecoveryCompression
@testable import CarbonRecoveryPostgres
import CarbonRecoveryTestKit
import Foundation
import Testing
import TestSupport

@Suite("Base backups streamed: gzip, tar reading and hashing over chunks")
struct BaseBackupStreamTests {
    /// A tar shaped like pg_basebackup's: backup_label first, files, a folder, backup_manifest
    /// last, then the end-of-archive blocks.
    func backupTar(fileSize: Int = 3_000) -> [UInt8] {
        var random = SplitMix(state: 0xBA5E)
        let file = (0..<fileSize).map { _ in UInt8(truncatingIfNeeded: random.next() % 7) }
        return tarFile("backup_label", Array("START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIME: 2026-12-05 06:00:00 UTC\n".utf8))
            + tarHeader("base", size: 0, type: UInt8(ascii: "5")) + tarFile("base/1/1259", file) + tarFile("global/pg_control", Array("control".utf8))
            + tarFile("backup_manifest", Array(#"{"PostgreSQL-Backup-Manifest-Version": 1, "Files": []}"#.utf8)) + [UInt8](repeating: 0, count: 1024)
    }

    func split(_ bytes: [UInt8], into size: Int) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    func chunks(_ parts: [[UInt8]]) -> AsyncStream<[UInt8]> {
        AsyncStream { continuation in
            for part in parts { continuation.yield(part) }
            continuation.finish()
        }
    }

    @Test("gzip over chunks: any split decompresses to the input; the empty stream is valid gzip")
    func gzipStream() throws {
        var random = SplitMix(state: 7)
        let input = (0..<300_000).map { index in UInt8(truncatingIfNeeded: index % 251 == 0 ? random.next() : UInt64(index / 1000)) }
        for size in [1, 511, 4_096, 65_537, 300_000] {
            let stream = try GzipStream()
            var output: [UInt8] = []
            for part in split(input, into: size) { output += try stream.compress(part) }
            output += try stream.finish()
            #expect(try Gzip.decompress(output) == input, "chunks of \(size)")
            #expect(output.count < input.count / 4, "it compresses: \(output.count) of \(input.count)")
        }
        let empty = try GzipStream()
        #expect(try Gzip.decompress(try empty.finish()).isEmpty)
    }

    @Test("the streaming tar reader agrees with the whole-tar reader at every split, keeps the label and manifest, and refuses a cut stream")
    func scannerAgrees() throws {
        let tar = backupTar()
        let members = try BaseBackupTar.members(tar)
        for size in [1, 7, 511, 512, 513, 1_000, tar.count] {
            var scanner = BaseBackupTar.Scanner(capture: ["backup_label", "backup_manifest"])
            for part in split(tar, into: size) { try scanner.feed(part) }
            try scanner.finish()
            #expect(scanner.memberCount == members.count, "chunks of \(size)")
            for name in ["backup_label", "backup_manifest"] {
                let member = try #require(members.first { $0.path == name })
                #expect(scanner.captured[name] == Array(tar[member.range]), "\(name), chunks of \(size)")
            }
            #expect(scanner.captured["base/1/1259"] == nil, "only what was asked for is kept")
        }
        for cut in [100, 512, 1_000, tar.count - 1_024 - 10, tar.count - 1_024] {
            var scanner = BaseBackupTar.Scanner(capture: [])
            try scanner.feed(Array(tar.prefix(cut)))
            let error = #expect(throws: RecoveryError.self) { try scanner.finish() }
            #expect(error?.code == .invalidObject && error?.message.contains("stops at byte") == true, "cut at \(cut): \(String(describing: error))")
        }
        var tooLarge = BaseBackupTar.Scanner(capture: ["base/1/1259"], captureLimit: 100)
        let error = #expect(throws: RecoveryError.self) { try tooLarge.feed(tar) }
        #expect(error?.code == .invalidObject && error?.message.contains("more than the 100 read") == true)
        var climbing = BaseBackupTar.Scanner(capture: [])
        #expect(throws: RecoveryError.self) { try climbing.feed(tarHeader("../../etc/cron.d/x", size: 0)) }
    }

    @Test("fuzz: mutated tars fed in random chunks never crash; what the stream accepts, the whole-tar reader accepts, with the same members")
    func scannerFuzz() throws {
        var random = SplitMix(state: 0x57AE_A4)
        let seed = backupTar(fileSize: 700)
        for _ in 0..<5_000 {
            var bytes = seed
            for _ in 0..<(1 + Int(random.next() % 4)) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 8 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            var scanner = BaseBackupTar.Scanner(capture: ["backup_label", "backup_manifest"])
            var offset = 0
            var accepted = true
            while offset < bytes.count, accepted {
                let size = 1 + Int(random.next() % 1_500)
                do { try scanner.feed(Array(bytes[offset..<min(offset + size, bytes.count)])) } catch { accepted = false }
                offset += size
            }
            guard accepted, (try? scanner.finish()) != nil else { continue }
            let members = try BaseBackupTar.members(bytes)
            #expect(members.count == scanner.memberCount)
            for (name, contents) in scanner.captured {
                #expect(members.first { $0.path == name }.map { Array(bytes[$0.range]) } == contents)
            }
        }
    }

    @Test("the stream to storage: what is stored gunzips to the tar, the SHA-256 and sizes are the tar's; a cut tar stores nothing")
    func streamToStorage() async throws {
        let tar = backupTar(fileSize: 200_000)
        for compression in [WALArchive.Compression.gzip, .none] {
            let storage = InMemoryStorageBackend()
            let stream = try BaseBackupStream(chunks(split(tar, into: 4_096)), compression: compression)
            try await storage.upload("base/x/base.tar", from: stream)
            let stored = try #require(try await storage.get("base/x/base.tar"))
            #expect(try (compression == .gzip ? Gzip.decompress(stored) : stored) == tar)
            #expect(stream.digest.sha256 == hexSHA256(tar))
            #expect(stream.digest.bytes == tar.count && stream.digest.storedBytes == stored.count)
            #expect(stream.digest.scanner.captured["backup_manifest"].map { String(decoding: $0, as: UTF8.self) }?.contains("Files") == true)
        }
        let storage = InMemoryStorageBackend()
        let cut = try BaseBackupStream(chunks(split(Array(tar.prefix(tar.count - 2_000)), into: 4_096)), compression: .gzip)
        await #expect(throws: RecoveryError.self) { try await storage.upload("base/y/base.tar", from: cut) }
        #expect(try await storage.get("base/y/base.tar") == nil, "nothing stored")
    }
}

@Suite("Extracting a base backup's tar")
struct BaseBackupExtractTests {
    @Test("files land with their contents and owner-only modes, parents made as needed, an empty file too; a link member is refused")
    func extract() async throws {
        let directory = try TemporaryDirectory()
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let tar = tarHeader("global/", size: 0, type: UInt8(ascii: "5")) + tarFile("global/pg_control", [1, 2, 3])
            + tarFile("base/1/1259", big) + tarFile("PG_VERSION", Array("15\n".utf8)) + tarFile("empty", []) + [UInt8](repeating: 0, count: 1024)
        let members = try BaseBackupTar.members(tar)
        let folder = directory.file("data")
        try await BaseBackupTar.extract(tar, members: members, into: folder)
        #expect(FileManager.default.contents(atPath: folder + "/base/1/1259").map(Array.init) == big)
        #expect(FileManager.default.contents(atPath: folder + "/global/pg_control").map(Array.init) == [1, 2, 3])
        #expect(FileManager.default.contents(atPath: folder + "/empty")?.isEmpty == true)
        for (path, mode) in [("PG_VERSION", 0o600), ("base", 0o700), ("base/1", 0o700), ("", 0o700)] {
            #expect((try FileManager.default.attributesOfItem(atPath: folder + "/" + path)[.posixPermissions] as? Int) == mode, "\(path)")
        }
        let linked = tarHeader("pg_tblspc/16384", size: 0, type: UInt8(ascii: "2")) + [UInt8](repeating: 0, count: 1024)
        let error = await #expect(throws: RecoveryError.self) {
            try await BaseBackupTar.extract(linked, members: try BaseBackupTar.members(linked), into: directory.file("other"))
        }
        #expect(error?.code == .unsupported)
    }
}
