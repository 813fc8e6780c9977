import CarbonRecovery
import Foundation

/// The tar stream `pg_basebackup --format=tar` writes (ustar: files, directories, and for
/// tablespaces symbolic links), read to find the backup's own files and to extract it safely.
enum BaseBackupTar {
    /// One member.
    struct Member {
        enum Kind { case file, directory, symlink, other }
        var path: String
        var kind: Kind
        var mode: Int
        var range: Range<Int>
    }

    /// Every member, with where its data is in `bytes`.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` for a damaged header, a member past the
    ///   end, or a path that is absolute or climbs out with `..`.
    static func members(_ bytes: [UInt8]) throws -> [Member] {
        var members: [Member] = []
        var offset = 0
        while offset + 512 <= bytes.count {
            let header = bytes[offset..<(offset + 512)]
            if header.allSatisfy({ $0 == 0 }) { break }
            let stored = octal(header.dropFirst(148).prefix(8))
            let sum = header.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 0x20 : Int($1.element)) }
            guard stored == sum else { throw RecoveryError(.invalidObject, "the base backup's tar has a damaged header at byte \(offset)") }
            let name = string(header.dropFirst(0).prefix(100))
            let prefix = string(header.dropFirst(345).prefix(155))
            let path = prefix.isEmpty ? name : prefix + "/" + name
            let size = octal(header.dropFirst(124).prefix(12))
            let mode = octal(header.dropFirst(100).prefix(8))
            let kind: Member.Kind
            switch header[header.startIndex + 156] {
            case UInt8(ascii: "0"), 0: kind = .file
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "2"): kind = .symlink
            default: kind = .other
            }
            let components = path.split(separator: "/")
            guard !path.isEmpty, !path.hasPrefix("/"), !components.contains(".."), !path.utf8.contains(0) else {
                throw RecoveryError(.invalidObject, "the base backup's tar holds the path '\(path.prefix(120))', which is outside the data folder")
            }
            let start = offset + 512
            let dataSize = kind == .file ? size : 0
            guard dataSize >= 0, start + dataSize <= bytes.count else {
                throw RecoveryError(.invalidObject, "the base backup's tar ends inside \(path)")
            }
            members.append(Member(path: path.hasSuffix("/") ? String(path.dropLast()) : path, kind: kind, mode: mode, range: start..<(start + dataSize)))
            offset = start + dataSize + (512 - dataSize % 512) % 512
        }
        return members
    }

    /// Writes the members into `folder` (which must not exist): directories 0700, files with
    /// their mode limited to the owner. Runs on a Dispatch thread (it is blocking file I/O).
    ///
    /// - Throws: ``RecoveryError/Code/unsupported`` for a symbolic link (a tablespace: restore
    ///   those by hand) or another member kind; what writing throws.
    static func extract(_ bytes: [UInt8], members: [Member], into folder: String) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                do {
                    let files = FileManager.default
                    try files.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                    for member in members {
                        let path = folder + "/" + member.path
                        switch member.kind {
                        case .directory:
                            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                        case .file:
                            let parent = (path as NSString).deletingLastPathComponent
                            if !files.fileExists(atPath: parent) {
                                try files.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                            }
                            guard files.createFile(atPath: path, contents: Data(bytes[member.range]), attributes: [.posixPermissions: member.mode & 0o700]) else {
                                throw RecoveryError(.storageFailure, "could not write \(path)", target: path)
                            }
                        case .symlink, .other:
                            throw RecoveryError(
                                .unsupported, "the base backup holds \(member.path), a link or special file (a tablespace?): only the main data folder is restored",
                                target: member.path)
                        }
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private static func octal(_ bytes: ArraySlice<UInt8>) -> Int {
        var value = 0
        for byte in bytes where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "7") {
            guard value < Int.max >> 4 else { return -1 }
            value = value * 8 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
