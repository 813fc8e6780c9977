// StorageEncryption: an SSE-C key is exactly 32 bytes and never printed; a KMS key id is
// printable text without spaces. Fuzzed: every other key length is refused with the length
// in the message, and no description or error ever holds the key.
import CarbonRecovery
import Foundation
import Testing

@Suite("Server-side encryption settings")
struct StorageEncryptionTests {
    @Test("an SSE-C key of 32 bytes is taken; any other length is refused with its length, never its bytes (fuzzed)")
    func customerKeyLength() throws {
        var generator = SystemRandomNumberGenerator()
        let key = try StorageEncryption.CustomerKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let setting = StorageEncryption.customerKey(key)
        for shown in ["\(key)", "\(setting)", String(reflecting: setting), String(reflecting: key)] {
            #expect(!shown.contains(key.base64), "a description holds the key: \(shown)")
        }
        #expect(setting.reportedAs == "SSE-C")
        for _ in 0..<500 {
            let length = Int.random(in: 0...96, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if length == 32 {
                #expect(try StorageEncryption.CustomerKey(bytes: bytes).bytes == bytes)
                continue
            }
            do {
                _ = try StorageEncryption.CustomerKey(bytes: bytes)
                Issue.record("a \(length)-byte key was taken")
            } catch let error as RecoveryError {
                #expect(error.code == .invalidInput && error.message.contains("has \(length)"))
                if length > 0 { #expect(!error.description.contains(Data(bytes).base64EncodedString())) }
            }
        }
    }

    @Test("a key file holds the 32 bytes themselves: a trailing line break, a missing file and a text key are refused naming the file")
    func customerKeyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sse-c-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let exact = folder.appendingPathComponent("exact").path
        let bytes = Array(repeating: UInt8(0x42), count: 32)
        #expect(FileManager.default.createFile(atPath: exact, contents: Data(bytes)))
        #expect(try StorageEncryption.CustomerKey(contentsOfFile: exact).bytes == bytes)
        let cases: [(String, Data?, String)] = [
            ("newline", Data(bytes + [0x0A]), "has 33"),
            ("base64", Data(Data(bytes).base64EncodedString().utf8), "has 44"),
            ("empty", Data(), "has 0"),
            ("missing", nil, "cannot be read"),
        ]
        for (name, contents, reason) in cases {
            let path = folder.appendingPathComponent(name).path
            if let contents { #expect(FileManager.default.createFile(atPath: path, contents: contents)) }
            let error = #expect(throws: RecoveryError.self) { try StorageEncryption.CustomerKey(contentsOfFile: path) }
            #expect(error?.code == .invalidInput && error?.message.contains(path) == true && error?.message.contains(reason) == true, "\(String(describing: error))")
        }
    }

    @Test("KMS key ids: ids, ARNs and aliases pass; empty, spaced, control characters and over-long ones are refused", arguments: [
        ("alias/velero-backups", true), ("1234abcd-12ab-34cd-56ef-1234567890ab", true),
        ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", true),
        ("", false), ("alias/with space", false), ("alias/line\nbreak", false), ("key\u{7F}", false),
        (String(repeating: "k", count: 2_049), false), ("alias/ünïcode", false),
    ])
    func kmsKeyIDs(keyID: String, valid: Bool) {
        let accepted = (try? StorageEncryption.validateKMSKeyID(keyID)) != nil
        #expect(accepted == valid, "\(keyID.prefix(40))")
    }
}
