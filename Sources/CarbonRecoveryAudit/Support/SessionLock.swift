import CarbonRecovery
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A lock file held with `flock` for as long as a trail handle is open, so that another
/// process can tell whether the writer of an unfinished attempt is still alive.
final class SessionLock: Sendable {
    let path: String
    /// The locked file's descriptor; -1 once released.
    private let descriptor: Mutex<Int32>

    /// Creates and locks `<directory>/<session>.lock`.
    init(directory: String, session: String) throws {
        if !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        path = "\(directory)/\(session).lock"
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0, flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw RecoveryError(.auditFailure, "cannot create the session lock: \(reason)", target: path)
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock and removes the file; a second call does nothing.
    func release() {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            unlink(path)
            flock(descriptor, LOCK_UN)
            close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }

    /// Whether a process still holds the lock of `session`.
    static func isAlive(directory: String, session: String) -> Bool {
        let path = "\(directory)/\(session).lock"
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            // Nobody holds it: its owner died without cleaning up.
            unlink(path)
            flock(descriptor, LOCK_UN)
            return false
        }
        return true
    }
}
