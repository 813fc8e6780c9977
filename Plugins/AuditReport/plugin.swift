import Foundation
import PackagePlugin

/// `swift package audit-report [--audit-db PATH] [--checkpoint FILE --public-key FILE]`:
/// verifies the audit trail and prints its statistics, by running the `carbon-recovery` CLI
/// (a package plugin cannot link the SDK's library targets).
@main
struct AuditReport: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let tool = try context.tool(named: "carbon-recovery")
        var database: [String] = []
        var verifyArguments: [String] = []
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--audit-db":
                guard let value = iterator.next() else { throw PluginError("--audit-db needs a path") }
                database = ["--audit-db", value]
            case "--checkpoint", "--public-key":
                guard let value = iterator.next() else { throw PluginError("\(argument) needs a file") }
                verifyArguments += [argument, value]
            default:
                throw PluginError("unknown argument '\(argument)'; use --audit-db, --checkpoint, --public-key")
            }
        }
        let verified = try run(tool.url, ["audit", "verify"] + database + verifyArguments)
        _ = try run(tool.url, ["audit", "stats"] + database)
        if !verified { throw PluginError("the audit trail did not verify") }
    }

    private func run(_ executable: URL, _ arguments: [String]) throws -> Bool {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

struct PluginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
