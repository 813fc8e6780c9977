// StorageKeyPair: the AWS/Velero credentials format as credential rotation reads and rewrites
// it — other profiles and comments kept, the old session token dropped, bad input refused
// without echoing a secret — and a fuzzed round trip: whatever text a pair is written into,
// reading it back gives that pair.
import CarbonRecovery
import Foundation
import Testing

@Suite("Storage key pairs for rotation")
struct StorageKeyPairTests {
    let pair = try! StorageKeyPair(accessKeyID: "CARBONNEWKEY01", secretAccessKey: "n3w/s3cr3t+Key")

    @Test("reads a profile; writes a new pair into it, keeping every other line and profile")
    func replaces() throws {
        let text = """
            # rotated quarterly
            [default]
            aws_access_key_id = CARBONOLDKEY00
            aws_secret_access_key=old-secret
            aws_session_token = old-token
            region = us-east-1

            [backup-reader]
            aws_access_key_id = READER
            aws_secret_access_key = reader-secret
            """
        #expect(try StorageKeyPair(credentialsFile: text, source: "f").accessKeyID == "CARBONOLDKEY00")
        let written = pair.replacing(in: text)
        #expect(try StorageKeyPair(credentialsFile: written, source: "f") == pair)
        #expect(try StorageKeyPair(credentialsFile: written, profile: "backup-reader", source: "f").accessKeyID == "READER")
        #expect(written.contains("# rotated quarterly") && written.contains("region = us-east-1") && !written.contains("old-token") && !written.contains("old-secret"))
        // A missing profile is added; an empty file becomes one profile.
        #expect(try StorageKeyPair(credentialsFile: pair.replacing(in: text, profile: "velero"), profile: "velero", source: "f") == pair)
        #expect(pair.replacing(in: "") == "[default]\naws_access_key_id = CARBONNEWKEY01\naws_secret_access_key = n3w/s3cr3t+Key\n")
        #expect(!"\(pair)".contains("s3cr3t") && "\(pair)".contains("CARB…(14 chars)"))
    }

    @Test("bad input is a clear error that never repeats a secret", arguments: [
        ("[default]\naws_access_key_id = ONLYID\n", "has no aws_secret_access_key"),
        ("[default]\naws_secret_access_key = s3cr3t-only\n", "has no aws_access_key_id"),
        ("[other]\naws_access_key_id = A\naws_secret_access_key = s3cr3t-other\n", "has no aws_access_key_id and aws_secret_access_key in its [default] section"),
        ("[default\naws_access_key_id = A\n", "f:1: a section header must end with ']'"),
        ("[default]\naws_access_key_id A\n", "f:2: expected 'key = value'"),
        ("[default]\naws_access_key_id = A B\naws_secret_access_key = s3cr3t-x\n", "printable ASCII characters without spaces"),
        ("[default]\naws_access_key_id = A\naws_secret_access_key = s3cr3t\u{7}\n", "printable ASCII characters without spaces"),
    ])
    func bad(text: String, message: String) {
        let error = #expect(throws: RecoveryError.self) { try StorageKeyPair(credentialsFile: text, source: "f") }
        #expect(error?.code == .invalidInput && error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cr3t") == false)
        #expect(throws: RecoveryError.self) { try StorageKeyPair(accessKeyID: String(repeating: "A", count: 257), secretAccessKey: "x") }
        #expect(throws: RecoveryError.self) { try StorageKeyPair(accessKeyID: "A", secretAccessKey: "") }
    }

    @Test("fuzzed: a pair written into any text that reads reads back as that pair; the text's other profiles survive")
    func fuzz() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["[default]", "[other]", "[profile default]", "aws_access_key_id = X", "aws_secret_access_key = Y", "AWS_ACCESS_KEY_ID=Z",
                      "# comment", "; comment", "", "region = eu", "  [default]  ", "aws_session_token = T", "key = a = b", "[ default ]"]
        var checked = 0
        for _ in 0..<2_000 {
            let text = (0..<Int.random(in: 0...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined(separator: "\n")
            let written = pair.replacing(in: text)
            #expect(try StorageKeyPair(credentialsFile: written, source: "fuzz") == pair, "\(text.debugDescription)")
            if let other = try? StorageKeyPair(credentialsFile: text, profile: "other", source: "fuzz") {
                #expect(try StorageKeyPair(credentialsFile: written, profile: "other", source: "fuzz") == other)
                checked += 1
            }
        }
        #expect(checked > 0, "the fuzz reached texts with a second profile")
    }
}
