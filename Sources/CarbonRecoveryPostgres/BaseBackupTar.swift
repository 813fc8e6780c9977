import CarbonRecovery
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
            guard let header = try header(bytes[offset..<(offset + 512)], at: offset) else { break }
            let start = offset + 512
            guard start + header.size <= bytes.count else {
                throw RecoveryError(.invalidObject, "the base backup's tar ends inside \(header.path)")
            }
            members.append(Member(path: header.path, kind: header.kind, mode: header.mode, range: start..<(start + header.size)))
            offset = start + header.size + header.padding
        }
        return members
    }

    /// A member's header: its path, kind, mode and the size of its data (zero for anything but
    /// a file) and of the padding after it.
    struct Header {
        var path: String
        var kind: Member.Kind
        var mode: Int
        var size: Int
        var padding: Int { (512 - size % 512) % 512 }
    }

    /// Reads one 512-byte header block; `nil` for a block of zeros (the end of the archive).
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` for a bad checksum, a size that does not
    ///   read, or a path that is empty, absolute, climbs out with `..` or holds a NUL.
    static func header(_ block: ArraySlice<UInt8>, at offset: Int) throws -> Header? {
        precondition(block.count == 512)
        if block.allSatisfy({ $0 == 0 }) { return nil }
        let stored = octal(block.dropFirst(148).prefix(8))
        let sum = block.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 0x20 : Int($1.element)) }
        guard stored == sum else { throw RecoveryError(.invalidObject, "the base backup's tar has a damaged header at byte \(offset)") }
        let name = string(block.prefix(100))
        let prefix = string(block.dropFirst(345).prefix(155))
        let path = prefix.isEmpty ? name : prefix + "/" + name
        let size = octal(block.dropFirst(124).prefix(12))
        let mode = octal(block.dropFirst(100).prefix(8))
        let kind: Member.Kind
        switch block[block.startIndex + 156] {
        case UInt8(ascii: "0"), 0: kind = .file
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "2"): kind = .symlink
        default: kind = .other
        }
        let components = path.split(separator: "/")
        guard !path.isEmpty, !path.hasPrefix("/"), !components.contains(".."), !path.utf8.contains(0) else {
            throw RecoveryError(.invalidObject, "the base backup's tar holds the path '\(path.prefix(120))', which is outside the data folder")
        }
        let dataSize = kind == .file ? size : 0
        guard dataSize >= 0 else { throw RecoveryError(.invalidObject, "the base backup's tar has an unreadable size for \(path.prefix(120))") }
        return Header(path: path.hasSuffix("/") ? String(path.dropLast()) : path, kind: kind, mode: mode, size: dataSize)
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
                            try write(bytes[member.range], to: path, mode: mode_t(member.mode & 0o700))
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

    /// Writes one file, not synced: PostgreSQL syncs the whole data folder when it starts from
    /// a backup (its `backup_label` and `pg_control` say the server was running: it runs
    /// `SyncDataDirectory`, as after a crash), so a sync per file — what Foundation's `createFile`
    /// does, one for each of the data folder's thousand-odd files — only made the restore wait.
    /// A link in the way is refused (`O_NOFOLLOW`).
    private static func write(_ bytes: ArraySlice<UInt8>, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw RecoveryError(.storageFailure, "could not write \(path): \(String(cString: strerror(errno)))", target: path) }
        defer { close(descriptor) }
        guard bytes.withUnsafeBufferPointer({ FileDescriptorWrite.writeAll(descriptor, $0) }) else {
            throw RecoveryError(.storageFailure, "could not write \(path): \(String(cString: strerror(errno)))", target: path)
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
