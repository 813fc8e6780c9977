#if canImport(Glibc)
import Glibc
#endif

/// Writing a whole buffer to a file descriptor with `write(2)`, as many calls as it takes
/// (a short write continues, `EINTR` retries); shared by the WAL spool and the base backup's
/// extraction, which both write without Foundation's per-file sync.
enum FileDescriptorWrite {
    /// Writes every byte of `bytes` to `descriptor`; `false` on an error (`errno` says which).
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 { if errno == EINTR { continue }; return false }
            offset += written
        }
        return true
    }

    /// Writes every byte of `bytes` to `descriptor`; `false` on an error (`errno` says which).
    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { writeAll(descriptor, $0) }
    }
}
