import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory render-manifests --config FILE [--output-dir DIR]`:
/// writes the guide's Velero files (`k8s/storage/velero-backup-config.yaml` and the four
/// `velero-restore-*.yaml`) from a recovery policy, by running `carbon-recovery render manifests`
/// (a package plugin cannot link the SDK's library targets). The output folder defaults to the package's.
@main
struct RenderManifests: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let tool = try context.tool(named: "carbon-recovery")
        var config: String?
        var output = context.package.directoryURL.path
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--config":
                guard let value = iterator.next() else { throw RenderError("--config needs a file") }
                config = value
            case "--output-dir":
                guard let value = iterator.next() else { throw RenderError("--output-dir needs a folder") }
                output = value
            default:
                throw RenderError("unknown argument '\(argument)'; use --config FILE [--output-dir DIR]")
            }
        }
        guard let config else { throw RenderError("give the policy file: --config FILE") }
        let process = Process()
        process.executableURL = tool.url
        process.arguments = ["render", "manifests", "--config", config, "--output-dir", output]
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 { throw RenderError("carbon-recovery render manifests failed (exit \(process.terminationStatus))") }
    }
}

struct RenderError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
