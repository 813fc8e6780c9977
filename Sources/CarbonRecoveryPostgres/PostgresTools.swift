import CarbonRecovery
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// PostgreSQL's own client programs (`psql`, `pg_basebackup`, `pg_verifybackup`, `pg_ctl`), run
/// as processes with argument arrays only; the password comes from a password file
/// (`PGPASSFILE`), never a command line.
public struct PostgresTools: Sendable {
    /// Where a server is and who connects.
    public struct Connection: Sendable, Hashable {
        /// The host (an address: PostgreSQL's programs here connect over TCP).
        public var host: String
        /// The port.
        public var port: Int
        /// The role to connect as (a superuser or a role with REPLICATION and pg_monitor).
        public var user: String
        /// The database for SQL.
        public var database: String
        /// A libpq password file (`host:port:database:user:password` lines, mode 0600).
        public var passwordFile: String?

        /// Creates a connection description.
        public init(host: String = "127.0.0.1", port: Int = 5432, user: String = "postgres", database: String = "postgres", passwordFile: String? = nil) {
            self.host = host
            self.port = port
            self.user = user
            self.database = database
            self.passwordFile = passwordFile
        }

        /// This connection on another port (a restored instance).
        public func on(port: Int) -> Connection {
            var copy = self
            copy.port = port
            return copy
        }
    }

    /// The folder of PostgreSQL's programs (Debian: `/usr/lib/postgresql/15/bin`).
    public var binDirectory: String
    /// When set, the server-side programs (`pg_ctl`, `pg_verifybackup`) run as this OS user
    /// through `setpriv` (PostgreSQL refuses to run as root); the caller must be root.
    public var runAs: String?

    /// Creates a runner.
    public init(binDirectory: String = "/usr/lib/postgresql/15/bin", runAs: String? = nil) {
        self.binDirectory = binDirectory
        self.runAs = runAs
    }

    /// What a finished program printed.
    struct Output {
        var status: Int32
        var output: [UInt8]
        var error: String
    }

    /// Runs one of PostgreSQL's programs and collects its output (up to `limit` bytes).
    func run(_ program: String, _ arguments: [String], connection: Connection? = nil, asServerUser: Bool = false, limit: Int = 64 << 20) async throws -> Output {
        var executable = binDirectory + "/" + program
        var all = arguments
        if asServerUser, let runAs {
            all = ["--reuid=\(runAs)", "--regid=\(runAs)", "--init-groups", "--reset-env", "--", executable] + arguments
            executable = "/usr/bin/setpriv"
        }
        let environment = Self.environment(connection)
        do {
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(all), environment: .inherit.updating(environment),
                input: .none, output: .bytes(limit: limit), error: .bytes(limit: 1 << 20))
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + Int32(signal)
            }
            return Output(status: status, output: result.standardOutput, error: String(decoding: result.standardError, as: UTF8.self))
        } catch let error as SubprocessError {
            throw RecoveryError(
                .unsupported, "could not run \(executable) (\(error)); install PostgreSQL's programs (Debian: postgresql-15) or set the bin folder",
                target: executable)
        }
    }

    /// Runs one of PostgreSQL's client programs and hands its standard output, as it arrives, to
    /// `body` (a base backup's tar, too large to hold). The program's exit status and standard
    /// error come back with `body`'s result; when `body` throws, the program is stopped.
    func stream<Result: Sendable>(
        _ program: String, _ arguments: [String], connection: Connection,
        body: (AsyncMapSequence<SubprocessOutputSequence, [UInt8]>) async throws -> Result
    ) async throws -> (status: Int32, error: String, result: Result) {
        let executable = binDirectory + "/" + program
        let environment = Self.environment(connection)
        do {
            let outcome = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), environment: .inherit.updating(environment),
                input: .none, output: .sequence, error: .bytes(limit: 1 << 20)
            ) { execution in
                try await body(execution.standardOutput.map { buffer in buffer.withUnsafeBytes { Array($0) } })
            }
            let status: Int32
            switch outcome.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + Int32(signal)
            }
            return (status, String(decoding: outcome.standardError, as: UTF8.self), outcome.closureResult)
        } catch let error as SubprocessError {
            throw RecoveryError(
                .unsupported, "could not run \(executable) (\(error)); install PostgreSQL's programs (Debian: postgresql-15) or set the bin folder",
                target: executable)
        }
    }

    /// libpq's variables for `connection` (the password only ever through its file).
    private static func environment(_ connection: Connection?) -> [Environment.Key: String?] {
        var environment: [Environment.Key: String?] = ["PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "carbon-recovery"]
        if let connection {
            environment["PGHOST"] = connection.host
            environment["PGPORT"] = String(connection.port)
            environment["PGUSER"] = connection.user
            environment["PGDATABASE"] = connection.database
            environment["PGPASSFILE"] = connection.passwordFile
        }
        return environment
    }

    /// Whether ``runAs`` (or this process's user) may execute the file at `path`: the folders
    /// above it must let that user through, which a checkout under `/root` does not.
    public func serverUserCanExecute(_ path: String) async -> Bool {
        guard let runAs else { return FileManager.default.isExecutableFile(atPath: path) }
        let result = try? await Subprocess.run(
            .path(FilePath("/usr/bin/setpriv")), arguments: ["--reuid=\(runAs)", "--regid=\(runAs)", "--init-groups", "--reset-env", "--", "/usr/bin/test", "-x", path],
            output: .discarded, error: .discarded)
        return result?.terminationStatus.isSuccess ?? false
    }

    /// Runs SQL with `psql` and returns the rows, each a list of columns.
    ///
    /// - Throws: ``RecoveryError/Code/unreachable`` when the server cannot be reached,
    ///   ``RecoveryError/Code/unauthorized`` when the login is refused, ``RecoveryError/Code/invalidInput`` for an SQL error.
    public func query(_ sql: String, on connection: Connection) async throws -> [[String]] {
        let result = try await run("psql", ["-X", "-A", "-t", "-q", "-F", "\u{1F}", "-v", "ON_ERROR_STOP=1", "-c", sql], connection: connection)
        guard result.status == 0 else { throw Self.error(result.error, program: "psql", connection: connection) }
        return String(decoding: result.output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// A ``RecoveryError`` for a failed client program, by what libpq said.
    static func error(_ message: String, program: String, connection: Connection) -> RecoveryError {
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = "\(connection.host):\(connection.port)"
        if text.contains("password authentication failed") || text.contains("no password supplied") || text.contains("no pg_hba.conf entry") {
            return RecoveryError(.unauthorized, "PostgreSQL at \(server) refused the login as \(connection.user): \(text)", target: server)
        }
        if text.contains("Connection refused") || text.contains("could not connect") || text.contains("timeout expired") {
            return RecoveryError(.unreachable, "PostgreSQL at \(server) could not be reached: \(text)", target: server)
        }
        return RecoveryError(.invalidInput, "\(program) failed on \(server): \(text)", target: server)
    }
}
