import CarbonRecovery
import Foundation

extension PointInTimeRecovery {
    /// A run of WAL segments missing from the archive.
    public struct Gap: Sendable, Equatable {
        /// The first and last missing segment (named on the timeline of the segment before them).
        public var first: String
        public var last: String
        /// How many segments are missing.
        public var segments: Int
    }

    /// What the archive can restore: the base backups, the window of reachable moments and
    /// every gap.
    public struct RestoreWindow: Sendable {
        /// Every base backup, oldest first.
        public var backups: [BaseBackup]
        /// How many WAL segments the archive holds.
        public var segments: Int
        /// The earliest moment a restore can reach: the oldest base backup's stop time.
        public var earliest: Date?
        /// The latest moment a restore can reach: when the last segment of an unbroken run
        /// from a base backup's start was archived (the archive's real recovery point).
        public var latest: Date?
        /// The last segment of that run.
        public var latestSegment: String?
        /// Every gap between the oldest base backup's start and the newest segment.
        public var gaps: [Gap]
    }

    /// Reads the archive's restore window and gaps; changes nothing.
    public func window() async throws -> RestoreWindow {
        let backups = try await baseBackups()
        let segments = try await archive.entries().filter { $0.file.kind == .segment }
        guard let oldest = backups.first else {
            return RestoreWindow(backups: [], segments: segments.count, earliest: nil, latest: nil, latestSegment: nil, gaps: [])
        }
        let size = oldest.walSegmentSize
        var byNumber: [UInt64: WALArchive.Entry] = [:]
        for entry in segments {
            let number = entry.file.segmentNumber(segmentSize: size)
            if let known = byNumber[number], known.file.timeline >= entry.file.timeline { continue }
            byNumber[number] = entry
        }
        let start = try WALFileName(oldest.startSegment).segmentNumber(segmentSize: size)
        let end = byNumber.keys.max() ?? start
        var gaps: [Gap] = []
        var number = start
        while number <= end {
            guard byNumber[number] == nil else { number += 1; continue }
            var last = number
            while last + 1 <= end && byNumber[last + 1] == nil { last += 1 }
            let timeline = (number > 0 ? byNumber[number - 1]?.file.timeline : nil) ?? oldest.timeline
            gaps.append(Gap(
                first: WALFileName.segment(timeline: timeline, number: number, segmentSize: size),
                last: WALFileName.segment(timeline: timeline, number: last, segmentSize: size), segments: Int(last - number + 1)))
            number = last + 1
        }
        // From each backup's start, the run of present segments; the furthest one reached wins.
        var latest: WALArchive.Entry?
        for backup in backups {
            var number = try WALFileName(backup.startSegment).segmentNumber(segmentSize: size)
            let stop = try WALFileName(backup.stopSegment).segmentNumber(segmentSize: size)
            guard byNumber[number] != nil else { continue }
            while byNumber[number + 1] != nil { number += 1 }
            guard number >= stop, let entry = byNumber[number] else { continue }
            if latest.map({ $0.file.segmentNumber(segmentSize: size) < number }) ?? true { latest = entry }
        }
        let reachable = backups.filter { backup in latest.map { (try? WALFileName(backup.stopSegment).segmentNumber(segmentSize: size)) ?? .max <= $0.file.segmentNumber(segmentSize: size) } ?? false }
        return RestoreWindow(
            backups: backups, segments: segments.count, earliest: reachable.first?.stopTime, latest: latest?.archivedAt,
            latestSegment: latest?.file.name, gaps: gaps)
    }
}
