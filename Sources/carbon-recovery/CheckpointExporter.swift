import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import ServiceLifecycle

/// `carbon-recovery run`'s copy of each new signed checkpoint to a folder outside the trail's
/// (`--checkpoint-dir` or the policy's `audit.checkpointExport`): `checkpoint-<size>.note`
/// (size zero-padded to 12 digits, so names sort by size) and `latest.note`.
///
/// It looks for new checkpoints every `pollInterval`; when `run` stops it signs one more of the
/// trail as it ends (with the signing key) and exports that too, so the copies cover the last
/// entries. A file of the same name is never replaced by different bytes: that would mean the
/// trail was rewritten, and it is reported instead.
struct CheckpointExporter: Service {
    let trail: SQLiteAuditTrail
    let directory: String
    let canSign: Bool
    var pollInterval: Duration = .seconds(10)
    let report: @Sendable (Result<AuditCheckpoint, RecoveryError>) -> Void

    /// Checks the folder before the trail is opened: absolute and outside the trail's folder.
    static func validateLocation(directory: String, trailPath: String) throws {
        guard directory.hasPrefix("/") else {
            throw RecoveryError.invalidInput("the checkpoint export folder '\(directory)' is not an absolute path", target: directory)
        }
        if AuditSigningKeyPlacement.isInside(directory + "/latest.note", folderOf: trailPath) {
            throw RecoveryError.invalidInput(
                "the checkpoint export folder \(directory) is inside the audit trail's folder: a copy there is lost or rewritten with the trail; choose a folder (or mount) the trail's writers cannot change",
                target: directory)
        }
    }

    /// Prepares the folder once the trail is open: creates it (mode 0700) when missing, and
    /// refuses one that holds another trail's checkpoints.
    static func prepare(directory: String, trail: SQLiteAuditTrail) throws {
        try validateLocation(directory: directory, trailPath: trail.path)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RecoveryError(.invalidInput, "cannot create the checkpoint export folder", target: directory, underlying: error)
        }
        let latest = directory + "/latest.note"
        if let text = try? String(contentsOfFile: latest, encoding: .utf8), let origin = text.split(separator: "\n").first,
            String(origin) != trail.checkpointOrigin
        {
            throw RecoveryError.invalidInput(
                "\(latest) is a checkpoint of '\(origin)', not of this trail ('\(trail.checkpointOrigin)'): give each trail its own folder",
                target: directory)
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            var exported = Self.largestExported(in: directory)
            while !Task.isCancelled {
                exported = await exportNew(after: exported)
                try await Task.sleep(for: pollInterval)
            }
        }
        let exported = Self.largestExported(in: directory)
        if canSign, (try? await trail.size()) ?? 0 > (try? await trail.latestCheckpoint()?.size ?? 0) ?? 0 {
            do { _ = try await trail.checkpoint() } catch let error as RecoveryError { report(.failure(error)) }
        }
        _ = await exportNew(after: exported)
    }

    /// Exports the checkpoints after `size`; returns the largest exported.
    private func exportNew(after size: Int64) async -> Int64 {
        var exported = size
        do {
            for checkpoint in try await trail.checkpoints(after: size) {
                try write(checkpoint)
                exported = checkpoint.size
                report(.success(checkpoint))
            }
        } catch let error as RecoveryError {
            report(.failure(error))
        } catch {
            report(.failure(RecoveryError(.auditFailure, "cannot export the checkpoint", target: directory, underlying: error)))
        }
        return exported
    }

    private func write(_ checkpoint: AuditCheckpoint) throws {
        let name = directory + "/" + Self.fileName(size: checkpoint.size)
        let bytes = Data(checkpoint.note.utf8)
        if let existing = FileManager.default.contents(atPath: name) {
            guard existing == bytes else {
                throw RecoveryError(
                    .auditTampered,
                    "\(name) already holds a different checkpoint at size \(checkpoint.size): the trail was rewritten since it was exported; run `carbon-recovery audit verify --checkpoint \(name)`",
                    target: name)
            }
        } else {
            try bytes.write(to: URL(fileURLWithPath: name), options: .withoutOverwriting)
        }
        // latest.note by rename, so a reader never sees half a note.
        let temporary = directory + "/.latest.note.\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        try bytes.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, directory + "/latest.note") == 0 else {
            throw RecoveryError(.auditFailure, "cannot replace latest.note: \(String(cString: strerror(errno)))", target: directory)
        }
    }

    static func fileName(size: Int64) -> String {
        let digits = String(size)
        return "checkpoint-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + ".note"
    }

    /// The largest size among `checkpoint-<size>.note` files already in the folder.
    static func largestExported(in directory: String) -> Int64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int64? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".note") else { return nil }
            return Int64(name.dropFirst("checkpoint-".count).dropLast(".note".count))
        }.max() ?? 0
    }
}
