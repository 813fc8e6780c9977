import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Picks TCP ports on 127.0.0.1 for servers the SDK, its tests and its benchmarks start
/// (a scratch PostgreSQL, say).
///
/// Asking the kernel for port 0 hands out a port from the *ephemeral* range — the range every
/// outgoing connection on the machine also takes its local port from. Between picking such a port
/// and the server binding it, any client connection (kubectl, an S3 request) may take it, and the
/// server fails with "Address already in use". So the port comes from below the ephemeral range
/// (read from `/proc/sys/net/ipv4/ip_local_port_range`), where no outgoing connection is placed,
/// chosen at random and checked by binding it.
package enum LoopbackPort {
    /// A port on 127.0.0.1 nothing listens on now, outside the kernel's ephemeral range.
    ///
    /// - Throws: `RecoveryError(.internalError)` when no port was found in 200 tries.
    package static func unused() throws -> Int {
        let range = candidates()
        for _ in 0..<200 {
            let port = Int.random(in: range)
            if isFree(port) { return port }
        }
        throw RecoveryError(.internalError, "could not find a free port on 127.0.0.1 in \(range.lowerBound)...\(range.upperBound)")
    }

    /// The ports below the ephemeral range (above it when the range starts low).
    static func candidates(ephemeral: ClosedRange<Int>? = ephemeralRange()) -> ClosedRange<Int> {
        let ephemeral = ephemeral ?? 32_768...60_999
        if ephemeral.lowerBound > 12_000 { return 10_000...(ephemeral.lowerBound - 1) }
        if ephemeral.upperBound < 63_000 { return (ephemeral.upperBound + 1)...65_535 }
        return 10_000...65_535
    }

    /// The kernel's ephemeral port range, or nil when it cannot be read.
    static func ephemeralRange() -> ClosedRange<Int>? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else { return nil }
        let numbers = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1], numbers[0] > 0 else { return nil }
        return numbers[0]...numbers[1]
    }

    /// Whether a listening socket can bind `port` on 127.0.0.1 now.
    static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
