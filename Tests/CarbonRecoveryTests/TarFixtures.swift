// ustar member headers for the tests of the base backup's tar readers.

/// A tar member header (ustar): `path` (≤ 100 bytes), mode 0600, `size`, `type`, a valid checksum.
func tarHeader(_ path: String, size: Int, type: UInt8 = UInt8(ascii: "0")) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 512)
    for (index, byte) in path.utf8.prefix(100).enumerated() { header[index] = byte }
    for (index, byte) in "0000600\0".utf8.enumerated() { header[100 + index] = byte }
    let octalSize = String(size, radix: 8)
    for (index, byte) in (String(repeating: "0", count: 11 - octalSize.count) + octalSize).utf8.enumerated() { header[124 + index] = byte }
    header[156] = type
    for (index, byte) in "ustar\0".utf8.enumerated() { header[257 + index] = byte }
    for index in 148..<156 { header[index] = 0x20 }
    let sum = String(header.reduce(0) { $0 + Int($1) }, radix: 8)
    for (index, byte) in (String(repeating: "0", count: 6 - sum.count) + sum + "\0").utf8.enumerated() { header[148 + index] = byte }
    return header
}

/// A file member: header, data, padding to 512.
func tarFile(_ path: String, _ data: [UInt8]) -> [UInt8] {
    tarHeader(path, size: data.count) + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
}
