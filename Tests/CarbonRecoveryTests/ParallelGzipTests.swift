// WAL segments are gzipped on every core: one member per part. Our reader and gunzip must read
// the members as the whole, and the size limit must hold across them.
import CarbonRecovery
import CarbonRecoveryCompression
@testable import CarbonRecoveryPostgres
import Foundation
import Testing
import TestSupport

@Suite("gzip on every core: members one after the other")
struct ParallelGzipTests {
    @Test("a file compressed in parts decompresses to itself, through our reader and through gunzip; a small one is a single member")
    func parts() async throws {
        var random = SplitMix(state: 99)
        let input = (0..<(3 << 20)).map { index in UInt8(truncatingIfNeeded: index % 97 == 0 ? random.next() : UInt64(index >> 12)) }
        for parts in [1, 2, 3, 8] {
            let compressed = try await Gzip.compress(input, parts: parts)
            #expect(try Gzip.decompress(compressed) == input, "\(parts) parts")
            let error = #expect(throws: RecoveryError.self) { try Gzip.decompress(compressed, limit: input.count - 1) }
            #expect(error?.message.contains("expands beyond") == true, "the limit holds across members: \(String(describing: error))")
        }
        let directory = try TemporaryDirectory()
        let file = directory.file("segment.gz")
        try Data(try await Gzip.compress(input, parts: 2)).write(to: URL(fileURLWithPath: file))
        let gunzip = try await run("/bin/sh", ["-c", "gunzip -c '\(file)' | sha256sum"])
        #expect(gunzip.standardOutput.hasPrefix(hexSHA256(input)), "gunzip reads every member: \(gunzip.standardOutput)")
        let small = Array(input.prefix(100_000))
        #expect(try await Gzip.compress(small, parts: 4) == (try Gzip.compress(small)))
        let garbage = #expect(throws: RecoveryError.self) { try Gzip.decompress(try Gzip.compress(small) + [1, 2, 3]) }
        #expect(garbage?.code == .invalidObject, "bytes after the last member are not gzip")
    }
}
