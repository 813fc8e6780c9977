/// Text placed into the report's HTML and SVG: every name, message and figure that came from the
/// audit trail, the policy or the cluster goes through ``escaped(_:)``, so a namespace called
/// `<script>` is shown, never run.
package enum HTMLText {
    /// `&`, `<`, `>`, `"` and `'` as character references; control characters other than tab
    /// and newline dropped (they have no business in a report and some break XML parsers).
    package static func escaped(_ text: some StringProtocol) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\t", "\n": result.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { continue }
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
