import CarbonRecovery

/// The POSIX ustar format, as Velero's backup tarballs use it: regular files only.
///
/// Package-internal: the engine reads tarballs to validate them, the stand-in writes them.
package enum Tar {
    /// One regular file of the archive.
    package struct Entry: Sendable, Hashable {
        package var path: String
        package var data: [UInt8]

        package init(path: String, data: [UInt8]) {
            self.path = path
            self.data = data
        }
    }

    /// Writes entries as a ustar archive (two zero blocks at the end).
    package static func write(_ entries: [Entry], modified: Int = 0) throws -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            var header = [UInt8](repeating: 0, count: 512)
            let (prefix, name) = try split(entry.path)
            put(name, at: 0, width: 100, into: &header)
            put(octal(0o644, width: 8), at: 100, width: 8, into: &header)
            put(octal(0, width: 8), at: 108, width: 8, into: &header)
            put(octal(0, width: 8), at: 116, width: 8, into: &header)
            put(octal(entry.data.count, width: 12), at: 124, width: 12, into: &header)
            put(octal(modified, width: 12), at: 136, width: 12, into: &header)
            header[156] = UInt8(ascii: "0")
            put("ustar", at: 257, width: 6, into: &header)
            put("00", at: 263, width: 2, into: &header)
            put(prefix, at: 345, width: 155, into: &header)
            for index in 148..<156 { header[index] = 0x20 }
            let checksum = header.reduce(0) { $0 + Int($1) }
            put(octal(checksum, width: 7), at: 148, width: 7, into: &header)
            header[155] = 0x20
            out += header
            out += entry.data
            let padding = (512 - entry.data.count % 512) % 512
            out += [UInt8](repeating: 0, count: padding)
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    /// Reads a ustar archive's regular files.
    package static func read(_ bytes: [UInt8]) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        while offset + 512 <= bytes.count {
            let header = Array(bytes[offset..<(offset + 512)])
            if header.allSatisfy({ $0 == 0 }) { break }
            let stored = parseOctal(header[148..<156])
            var copy = header
            for index in 148..<156 { copy[index] = 0x20 }
            guard stored == copy.reduce(0, { $0 + Int($1) }) else {
                throw RecoveryError(.invalidObject, "the backup tarball has a damaged header at byte \(offset)")
            }
            let name = string(header[0..<100])
            let prefix = string(header[345..<500])
            let size = parseOctal(header[124..<136])
            let type = header[156]
            offset += 512
            guard offset + size <= bytes.count else { throw RecoveryError(.invalidObject, "the backup tarball ends inside \(name)") }
            if type == UInt8(ascii: "0") || type == 0 {
                entries.append(Entry(path: prefix.isEmpty ? name : "\(prefix)/\(name)", data: Array(bytes[offset..<(offset + size)])))
            }
            offset += size + (512 - size % 512) % 512
        }
        return entries
    }

    private static func split(_ path: String) throws -> (String, String) {
        let utf8 = Array(path.utf8)
        if utf8.count <= 100 { return ("", path) }
        // Split at a '/' so that the prefix fits in 155 bytes and the name in 100.
        for index in stride(from: min(utf8.count - 1, 155), to: 0, by: -1) where utf8[index] == UInt8(ascii: "/") {
            if utf8.count - index - 1 <= 100 {
                return (String(decoding: utf8[..<index], as: UTF8.self), String(decoding: utf8[(index + 1)...], as: UTF8.self))
            }
        }
        throw RecoveryError(.invalidInput, "path too long for a tar header: \(path)")
    }

    private static func octal(_ value: Int, width: Int) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
    }

    private static func put(_ text: String, at offset: Int, width: Int, into header: inout [UInt8]) {
        for (index, byte) in text.utf8.prefix(width).enumerated() { header[offset + index] = byte }
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func parseOctal(_ bytes: ArraySlice<UInt8>) -> Int {
        var value = 0
        for byte in bytes where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "7") { value = value * 8 + Int(byte - UInt8(ascii: "0")) }
        return value
    }
}
