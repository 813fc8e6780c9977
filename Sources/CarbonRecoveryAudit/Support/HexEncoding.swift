import Crypto

/// Lower-case hex.
enum HexEncoding {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Writes the 64 hex digits of a SHA-256 digest into `hex` (which has 64 elements).
    static func write(_ digest: SHA256.Digest, into hex: inout [UInt8]) {
        hex.withUnsafeMutableBufferPointer { out in
            digest.withUnsafeBytes { bytes in
                for index in 0..<bytes.count {
                    out[2 * index] = digits[Int(bytes[index] >> 4)]
                    out[2 * index + 1] = digits[Int(bytes[index] & 0x0F)]
                }
            }
        }
    }

    /// The hex string of bytes (a hash kept as bytes).
    static func string(_ bytes: [UInt8]) -> String {
        var hex = [UInt8](repeating: 0, count: 2 * bytes.count)
        for (index, byte) in bytes.enumerated() {
            hex[2 * index] = digits[Int(byte >> 4)]
            hex[2 * index + 1] = digits[Int(byte & 0x0F)]
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The hex string of a digest.
    static func string(_ digest: SHA256.Digest) -> String {
        var hex = [UInt8](repeating: 0, count: 64)
        write(digest, into: &hex)
        return String(decoding: hex, as: UTF8.self)
    }
}
