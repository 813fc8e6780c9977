import CarbonRecovery
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating files that only their owner may read.
package enum FileSecurity {
    /// Creates the parent directories (mode 0700) of `path` when they are missing.
    ///
    /// - Parameter what: What the file is, for the error (`the audit trail`, `the notification outbox`).
    package static func createParentDirectories(of path: String, for what: String = "the audit trail") throws {
        let parent = (path as NSString).deletingLastPathComponent
        guard !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) else { return }
        do {
            try FileManager.default.createDirectory(
                atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RecoveryError(.auditFailure, "cannot create the directory for \(what)", target: parent, underlying: error)
        }
    }

    /// Makes sure the file exists with mode 0600, creating it empty when missing.
    package static func ensurePrivateFile(at path: String, for what: String = "the audit trail") throws {
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw RecoveryError(.auditFailure, "cannot create the file of \(what): \(String(cString: strerror(errno)))", target: path)
        }
        close(descriptor)
    }

    /// Writes a new file with mode 0600; fails when it exists.
    package static func createPrivateFile(at url: URL, contents: [UInt8]) throws {
        try createParentDirectories(of: url.path)
        let descriptor = open(url.path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw RecoveryError(errno == EEXIST ? .conflict : .auditFailure, "cannot create \(url.lastPathComponent): \(reason)", target: url.path)
        }
        defer { close(descriptor) }
        var written = 0
        while written < contents.count {
            let result = contents[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else {
                throw RecoveryError(.auditFailure, "cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))", target: url.path)
            }
            written += result
        }
        fsync(descriptor)
    }

    /// The file's permission bits.
    package static func permissions(of path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }
}
