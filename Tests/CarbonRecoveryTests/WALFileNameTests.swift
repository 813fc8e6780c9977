// WAL file names as PostgreSQL writes them, and the archive's keys: the parser decides which
// storage key a name from `archive_command` becomes, so it is table-tested and fuzzed.
import CarbonRecovery
import CarbonRecoveryPostgres
import Testing
import TestSupport

@Suite("WAL file names and archive keys")
struct WALFileNameTests {
    @Test("every kind PostgreSQL archives is read with its timeline and position", arguments: [
        ("000000010000000000000003", WALFileName.Kind.segment, UInt32(1), UInt32(0), UInt32(3)),
        ("0000000A00000002000000FF", .segment, 10, 2, 255),
        ("000000020000000000000007.partial", .partial, 2, 0, 7),
        ("000000010000000000000002.00000028.backup", .backupLabel, 1, 0, 2),
        ("00000002.history", .history, 2, 0, 0),
        ("FFFFFFFFFFFFFFFFFFFFFFFF", .segment, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF),
    ])
    func parses(name: String, kind: WALFileName.Kind, timeline: UInt32, log: UInt32, segment: UInt32) throws {
        let file = try WALFileName(name)
        #expect(file.kind == kind && file.timeline == timeline && file.log == log && file.segment == segment)
        #expect(file.name == name && file.description == name)
        #expect(file.segmentName == (kind == .history ? nil : String(name.prefix(24))))
    }

    @Test("anything PostgreSQL never writes is refused with the reason", arguments: [
        "", "0000000100000000000000", "000000010000000000000003 ", "000000010000000000000003\n", "00000001000000000000000g",
        "00000001000000000000000a", "pg_wal/000000010000000000000003", "../../00000001000000000003", "000000000000000000000003",
        "00000000.history", "00000002.History", "0000002.history", "000000010000000000000003.gz", "000000010000000000000003.partial.gz",
        "000000010000000000000002.0000002.backup", "000000010000000000000002-00000028.backup", "000000010000000000000002.0000002x.backup",
        "０００００００１００００００００００００００００３", "00000001000000000000000３",
    ])
    func refuses(name: String) {
        #expect(throws: RecoveryError(.invalidInput, "")) { try WALFileName(name) }
    }

    @Test("segment numbers and names agree for 16 MiB and 1 GiB segments; order is timeline, then position, history first")
    func numbering() throws {
        for size in [16 << 20, 1 << 30] {
            for number in [UInt64(0), 1, 255, 256, 1_000, 70_000] {
                let name = WALFileName.segment(timeline: 3, number: number, segmentSize: size)
                #expect(try WALFileName(name).segmentNumber(segmentSize: size) == number, "\(name)")
            }
        }
        #expect(WALFileName.segment(timeline: 1, number: 256, segmentSize: 16 << 20) == "000000010000000100000000")
        let sorted = try ["000000020000000000000001", "00000002.history", "000000010000000000000009", "000000010000000000000002.00000028.backup"]
            .map(WALFileName.init).sorted().map(\.name)
        #expect(sorted == ["000000010000000000000002.00000028.backup", "000000010000000000000009", "00000002.history", "000000020000000000000001"])
    }

    @Test("fuzz: random and mutated names never crash, and every name accepted is one PostgreSQL could write")
    func fuzz() {
        var random = SplitMix(state: 0x5EED_0016)
        let alphabet = Array("0123456789ABCDEFabcdefghistory.partialbackup/-_ \u{0}\u{E9}")
        let valid = ["000000010000000000000003", "000000020000000000000007.partial", "000000010000000000000002.00000028.backup", "00000002.history"]
        var accepted = 0
        for round in 0..<40_000 {
            var characters: [Character]
            if round % 2 == 0 {
                characters = (0..<Int(random.next() % 42)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            } else {
                characters = Array(valid[Int(random.next() % UInt64(valid.count))])
                for _ in 0..<(1 + Int(random.next() % 3)) where !characters.isEmpty {
                    let index = Int(random.next() % UInt64(characters.count))
                    switch random.next() % 3 {
                    case 0: characters[index] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    case 1: characters.remove(at: index)
                    default: characters.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: index)
                    }
                }
            }
            let name = String(characters)
            guard let file = try? WALFileName(name) else { continue }
            accepted += 1
            let shapeOK: Bool
            switch file.kind {
            case .segment: shapeOK = name.utf8.count == 24
            case .partial: shapeOK = name.utf8.count == 32 && name.hasSuffix(".partial")
            case .backupLabel: shapeOK = name.utf8.count == 40 && name.hasSuffix(".backup")
            case .history: shapeOK = name.utf8.count == 16 && name.hasSuffix(".history")
            }
            #expect(shapeOK && file.timeline != 0 && name.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "/") }, "\(name)")
            if file.kind == .segment && file.segment < 256 {   // 16 MiB segments: 256 a log
                #expect(WALFileName.segment(timeline: file.timeline, number: file.segmentNumber(segmentSize: 1 << 24), segmentSize: 1 << 24) == name)
            }
        }
        #expect(accepted > 100, "the mutations reach valid names too (\(accepted))")
    }
}
