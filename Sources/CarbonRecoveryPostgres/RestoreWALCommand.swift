import CarbonRecovery
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `restore_command` a restore gives PostgreSQL: `carbon-recovery pg restore-wal --spool
/// SPOOL %f %p`, which hands the server one prefetched, checked WAL file. PostgreSQL runs it as
/// the server's OS user, through `sh -c`.
public struct RestoreWALCommand: Sendable, Hashable {
    /// The `carbon-recovery` executable.
    public var executable: String

    /// Names the executable; nothing is checked.
    public init(executable: String) {
        self.executable = executable
    }

    /// The command for a restore whose checked WAL waits in `spool`.
    public func command(spool: String) -> String {
        "\(Self.shellWord(executable)) pg restore-wal --spool \(Self.shellWord(spool)) %f %p"
    }

    /// `text` as one shell word: a path with a space or a shell character stays one argument
    /// and runs nothing.
    public static func shellWord(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The command for `executable`, made runnable by the server's user (``PostgresTools/runAs``):
    /// when the folders above it keep that user out (a checkout under `/root`), a copy at `copy`
    /// owned by that user (mode 0500) serves instead.
    ///
    /// - Returns: The command, and whether a copy was made (the caller removes it when the
    ///   restore is over).
    /// - Throws: ``RecoveryError/Code/conflict`` when a copy is needed and `copy` exists.
    public static func staged(_ executable: String, copyingTo copy: String, tools: PostgresTools) async throws -> (command: RestoreWALCommand, copied: Bool) {
        if await tools.serverUserCanExecute(executable) { return (RestoreWALCommand(executable: executable), false) }
        let owner = tools.runAs
        try await PointInTimeRecovery.onDispatch {
            guard !FileManager.default.fileExists(atPath: copy) else {
                throw RecoveryError(.conflict, "\(copy) already exists: remove it, or restore into another folder", target: copy)
            }
            try FileManager.default.copyItem(atPath: executable, toPath: copy)
            if let owner, let account = getpwnam(owner) { _ = chown(copy, account.pointee.pw_uid, account.pointee.pw_gid) }
            chmod(copy, 0o500)
        }
        return (RestoreWALCommand(executable: copy), true)
    }
}
