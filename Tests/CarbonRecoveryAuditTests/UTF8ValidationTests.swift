@testable import CarbonRecoveryAudit
import Testing

@Suite("UTF-8 validation of stored text")
struct UTF8ValidationTests {
    @Test("agrees with the standard library's validating decoder on 50,000 random byte strings")
    func agreesWithStandardLibrary() {
        var generator = SystemRandomNumberGenerator()
        // Bytes drawn mostly from the places where UTF-8 is subtle: ASCII, continuation bytes,
        // the lead bytes with restricted second bytes (E0, ED, F0, F4) and the never-valid ones.
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        var disagreements: [[UInt8]] = []
        for _ in 0..<50_000 {
            let count = Int.random(in: 0...24, using: &generator)
            let bytes: [UInt8] = (0..<count).map { _ in
                Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            let actual = bytes.withUnsafeBufferPointer { UTF8Validation.isValid($0) }
            if expected != actual { disagreements.append(bytes) }
        }
        #expect(disagreements.isEmpty, "first: \(disagreements.first ?? [])")
    }

    @Test("the ASCII fast path hands over to the full check at any offset", arguments: 0..<17)
    func fastPathBoundary(offset: Int) {
        let ascii = [UInt8](repeating: 0x61, count: offset)
        #expect((ascii + [0xC3, 0xA9]).withUnsafeBufferPointer { UTF8Validation.isValid($0) })
        #expect(!(ascii + [0xC3]).withUnsafeBufferPointer { UTF8Validation.isValid($0) })
        #expect(!(ascii + [0xC3, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61]).withUnsafeBufferPointer { UTF8Validation.isValid($0) })
    }
}
