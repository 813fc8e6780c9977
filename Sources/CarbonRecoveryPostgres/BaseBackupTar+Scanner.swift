import CarbonRecovery

extension BaseBackupTar {
    /// Reads `pg_basebackup`'s tar as it streams past, chunk by chunk, without holding it: checks
    /// every header as ``BaseBackupTar/members(_:)`` does, counts the members, and keeps the
    /// contents of the few it is asked for (`backup_label`, `backup_manifest`).
    struct Scanner {
        /// The contents of the captured members, by path.
        private(set) var captured: [String: [UInt8]] = [:]
        /// How many members went past.
        private(set) var memberCount = 0
        /// Bytes read so far.
        private(set) var offset = 0
        /// Whether the end-of-archive block was read.
        private(set) var ended = false

        private let capture: Set<String>
        private let captureLimit: Int
        private var pendingHeader: [UInt8] = []
        private var remaining = 0
        private var padding = 0
        private var capturing: String?

        /// Keeps the members at `capture` (each at most `captureLimit` bytes).
        init(capture: Set<String>, captureLimit: Int = 1 << 30) {
            self.capture = capture
            self.captureLimit = captureLimit
        }

        /// Reads the next chunk.
        ///
        /// - Throws: ``RecoveryError/Code/invalidObject`` for a damaged header, a bad path, or a
        ///   captured member larger than the limit.
        mutating func feed(_ chunk: [UInt8]) throws {
            var index = chunk.startIndex
            while index < chunk.endIndex {
                if ended { break }   // the zero blocks tar pads the archive with
                if remaining > 0 {
                    let count = min(remaining, chunk.endIndex - index)
                    if let capturing { captured[capturing, default: []].append(contentsOf: chunk[index..<(index + count)]) }
                    remaining -= count
                    index += count
                    offset += count
                    if remaining == 0 { capturing = nil }
                    continue
                }
                if padding > 0 {
                    let count = min(padding, chunk.endIndex - index)
                    padding -= count
                    index += count
                    offset += count
                    continue
                }
                let count = min(512 - pendingHeader.count, chunk.endIndex - index)
                pendingHeader.append(contentsOf: chunk[index..<(index + count)])
                index += count
                guard pendingHeader.count == 512 else { continue }
                let headerOffset = offset
                offset += 512
                let block = pendingHeader
                pendingHeader.removeAll(keepingCapacity: true)
                guard let header = try BaseBackupTar.header(block[...], at: headerOffset) else {
                    ended = true
                    continue
                }
                memberCount += 1
                remaining = header.size
                padding = header.padding
                if header.kind == .file, capture.contains(header.path) {
                    guard header.size <= captureLimit else {
                        throw RecoveryError(.invalidObject, "the base backup's \(header.path) is \(header.size) bytes, more than the \(captureLimit) read")
                    }
                    capturing = header.path
                    captured[header.path] = []
                    if remaining == 0 { capturing = nil }
                }
            }
        }

        /// Checks that the archive ended where a tar may end.
        ///
        /// - Throws: ``RecoveryError/Code/invalidObject`` when the stream stopped inside a
        ///   header or a member, or before the end-of-archive block.
        func finish() throws {
            guard remaining == 0, pendingHeader.isEmpty, ended else {
                throw RecoveryError(.invalidObject, "the base backup's tar stops at byte \(offset), inside a member or before its end")
            }
        }
    }
}
