import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// Whether a checkpoint signing key is kept where it protects anything.
///
/// A signed checkpoint detects a rewritten trail only if whoever can rewrite the trail cannot
/// also sign: a key in the trail's own folder travels with every copy of the trail, and a key
/// that group or others may read is available to every other account that may write the trail.
/// `carbon-recovery doctor` reports ``doctorCheck(keyPath:trailPath:)``.
public enum AuditSigningKeyPlacement {
    /// The doctor check's id.
    public static let checkID = "audit-signing-key"

    /// Whether `keyPath` lies in the folder of `trailPath` or below it (symbolic links resolved,
    /// so another name for the same folder counts).
    public static func isInside(_ keyPath: String, folderOf trailPath: String) -> Bool {
        func folder(_ path: String) -> String {
            URL(fileURLWithPath: path).deletingLastPathComponent().resolvingSymlinksInPath().standardizedFileURL.path
        }
        let trailFolder = folder(trailPath)
        let keyFolder = folder(keyPath)
        return keyFolder == trailFolder || keyFolder.hasPrefix(trailFolder == "/" ? "/" : trailFolder + "/")
    }

    /// One doctor check: `warn` when there is no key (checkpoints are not signed), when it sits in
    /// the trail's folder, or when group or others may read it; `pass` otherwise.
    public static func doctorCheck(keyPath: String, trailPath: String) -> DoctorCheck {
        let title = "Audit checkpoint signing key"
        guard FileManager.default.fileExists(atPath: keyPath) else {
            return DoctorCheck(
                id: checkID, title: title, status: .warn,
                detail: "no signing key at \(keyPath): the audit trail's checkpoints are not signed, so a rewritten trail goes unnoticed",
                fix: "carbon-recovery audit keygen --signing-key \(keyPath), then give \(keyPath).pub to the trail's reviewers")
        }
        if isInside(keyPath, folderOf: trailPath) {
            return DoctorCheck(
                id: checkID, title: title, status: .warn,
                detail: "the signing key \(keyPath) is in the audit trail's folder: whoever can replace the trail can re-sign it",
                fix: "move it out of \((trailPath as NSString).deletingLastPathComponent) (e.g. to ~/.config/carbon-recovery/ or /etc/carbon-recovery/, mode 0600) and name it with --signing-key or audit.signingKey")
        }
        if let mode = FileSecurity.permissions(of: keyPath), mode & 0o077 != 0 {
            let trailMode = FileSecurity.permissions(of: trailPath) ?? 0o600
            let writers = trailMode & 0o022 != 0 ? " (the trail itself may be written by group or others, who can then read the key too)" : ""
            return DoctorCheck(
                id: checkID, title: title, status: .warn,
                detail: "the signing key \(keyPath) has mode \(String(mode, radix: 8)): group or others can read it and sign checkpoints\(writers)",
                fix: "chmod 600 \(keyPath)")
        }
        return DoctorCheck(id: checkID, title: title, status: .pass, detail: "\(keyPath), mode 0600, outside the trail's folder", fix: nil)
    }
}
