import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import ServiceLifecycle
import Synchronization

/// `carbon-recovery run`'s signed checkpoints of the audit trail, beside the ones the trail signs
/// every `audit.checkpointInterval` entries:
///
/// - every `audit.checkpointEvery` (an hour by default) it signs one when entries were added
///   since the newest, so a quiet trail still gets a recent checkpoint;
/// - when `run` stops it signs one more, so the last entries are covered;
/// - with a folder (`--checkpoint-dir` or the policy's `audit.checkpointExport`) it copies each
///   new checkpoint there: `checkpoint-<size>.note` (size zero-padded to 12 digits, so names
///   sort by size) and `latest.note`. A file of the same name is never replaced by different
///   bytes: that would mean the trail was rewritten, and it is reported instead.
///
/// - with witnesses (the policy's `audit.witnesses`) it asks them to cosign each new newest
///   checkpoint once, and stores their cosignatures in the trail (`audit cosign` asks again).
///
/// It looks for new checkpoints to copy every `pollInterval`.
struct AuditCheckpointService: Service {
    let trail: SQLiteAuditTrail
    /// The export folder, if any.
    let directory: String?
    let canSign: Bool
    /// The time between timed checkpoints; `nil` for none.
    let signEvery: Duration?
    /// The witnesses to ask for cosignatures; `nil` for none.
    var collector: AuditWitnessCollector?
    var pollInterval: Duration = .seconds(10)
    let report: @Sendable (Result<AuditCheckpoint, RecoveryError>) -> Void
    /// Told what each witness did with a new checkpoint.
    var reportWitnesses: @Sendable (Int64, Result<[AuditWitnessCollector.Outcome], RecoveryError>) -> Void = { _, _ in }

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
        let clock = ContinuousClock()
        try? await cancelWhenGracefulShutdown { [self] in
            var exported = directory.map { Self.largestExported(in: $0) } ?? 0
            var lastSigned = clock.now
            while !Task.isCancelled {
                if canSign, let signEvery, clock.now - lastSigned >= signEvery {
                    lastSigned = clock.now
                    await signIfGrown()
                }
                if let directory { exported = await exportNew(after: exported, to: directory) }
                await askWitnesses()
                try await Task.sleep(for: min(pollInterval, signEvery ?? pollInterval))
            }
        }
        if canSign { await signIfGrown() }
        if let directory { _ = await exportNew(after: Self.largestExported(in: directory), to: directory) }
        await askWitnesses()
    }

    /// The newest checkpoint size the witnesses were asked about (shared by the service's copies).
    private let askedSize = AskedSize()

    private final class AskedSize: Sendable {
        let size = Mutex<Int64>(0)
    }

    /// Asks the witnesses about the newest checkpoint, once per checkpoint.
    private func askWitnesses() async {
        guard let collector else { return }
        do {
            guard let newest = try await trail.latestCheckpoint()?.size, newest > askedSize.size.withLock({ $0 }) else { return }
            askedSize.size.withLock { $0 = newest }
            reportWitnesses(newest, .success(try await collector.cosignNewest()))
        } catch let error as RecoveryError {
            reportWitnesses(0, .failure(error))
        } catch {
            reportWitnesses(0, .failure(RecoveryError(.auditFailure, "cannot collect the witnesses' cosignatures", target: trail.path, underlying: error)))
        }
    }

    /// Signs a checkpoint when the trail has entries past its newest one.
    private func signIfGrown() async {
        do {
            let size = try await trail.size()
            guard size > (try await trail.latestCheckpoint()?.size ?? 0) else { return }
            let checkpoint = try await trail.checkpoint()
            // Reported here when nothing copies it (a copied one is reported as exported).
            if directory == nil { report(.success(checkpoint)) }
        } catch let error as RecoveryError {
            report(.failure(error))
        } catch {
            report(.failure(RecoveryError(.auditFailure, "cannot sign a checkpoint of the audit trail", target: trail.path, underlying: error)))
        }
    }

    /// Exports the checkpoints after `size`; returns the largest exported.
    private func exportNew(after size: Int64, to directory: String) async -> Int64 {
        var exported = size
        do {
            for checkpoint in try await trail.checkpoints(after: size) {
                try write(checkpoint, to: directory)
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

    private func write(_ checkpoint: AuditCheckpoint, to directory: String) throws {
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
