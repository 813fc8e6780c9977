import CarbonRecovery
import Foundation
import Yams

/// The `drills` section: the guide's three levels of cluster drills, and a database's
/// point-in-time recovery drill (`kind: pitr`).
extension Reader {
    mutating func drills(_ section: Node?) throws -> [DrillPolicy] {
        var drills: [DrillPolicy] = []
        for (index, node) in (try sequence(section, "drills")).enumerated() {
            let path = "drills[\(index)]"
            note(node, path)
            let fields = try mapping(
                node, path, allowed: ["name", "cron", "kind", "schedule", "drCluster", "database", "scratchPort", "scratchDirectory"], required: ["name", "cron", "kind"])
            let kindText = try string(fields["kind"]!, "\(path).kind")
            guard let kind = DrillPolicy.Kind(rawValue: kindText) else {
                throw fail(fields["kind"], "\(path).kind", "'\(kindText)' is not a drill kind; use \(DrillPolicy.Kind.allCases.map(\.rawValue).joined(separator: " or "))")
            }
            // A pitr drill restores a database's archive, not a schedule's backups.
            var database: String?, scratchPort: Int?, scratchDirectory: String?
            if kind == .pitr {
                for field in ["schedule", "drCluster"] where fields[field] != nil {
                    throw fail(fields[field], "\(path).\(field)", "a pitr drill restores a database's WAL archive into a scratch instance: it takes no \(field); name the database with database: STANZA")
                }
                guard let node = fields["database"] else { throw fail(node, "\(path).database", "a pitr drill names the stanza of one of the policy's databases: database: STANZA") }
                database = try string(node, "\(path).database")
                scratchPort = try int(fields["scratchPort"], "\(path).scratchPort")
                if let port = scratchPort, !(1...65_535).contains(port) {
                    throw fail(fields["scratchPort"], "\(path).scratchPort", "\(port) is not a TCP port (1-65535)")
                }
                if let value = fields["scratchDirectory"] {
                    let folder = try string(value, "\(path).scratchDirectory")
                    guard folder.hasPrefix("/") else { throw fail(value, "\(path).scratchDirectory", "write an absolute path, not '\(folder)'") }
                    scratchDirectory = folder
                }
            } else {
                for field in ["database", "scratchPort", "scratchDirectory"] where fields[field] != nil {
                    throw fail(fields[field], "\(path).\(field)", "only a pitr drill takes \(field); a \(kind.rawValue) drill restores a schedule's backups")
                }
                guard fields["schedule"] != nil else { throw fail(node, "\(path).schedule", "a \(kind.rawValue) drill names the schedule whose backups it restores: schedule: NAME") }
            }
            let name = try string(fields["name"]!, "\(path).name")
            try checked(fields["name"]!, "\(path).name") { try KubernetesName.validateLabel(name, what: "drill name") }
            var drCluster: DrillPolicy.DRCluster?
            if let node = fields["drCluster"] {
                note(node, "\(path).drCluster")
                let reference = try mapping(node, "\(path).drCluster", allowed: ["context", "kubeconfig"], required: ["context"])
                let context = try string(reference["context"]!, "\(path).drCluster.context")
                guard !context.isEmpty else { throw fail(reference["context"], "\(path).drCluster.context", "name the kubeconfig context of the DR cluster") }
                var kubeconfig: String?
                if let value = reference["kubeconfig"] {
                    let file = try string(value, "\(path).drCluster.kubeconfig")
                    guard file.hasPrefix("/") else { throw fail(value, "\(path).drCluster.kubeconfig", "write an absolute path, not '\(file)'") }
                    kubeconfig = file
                }
                drCluster = DrillPolicy.DRCluster(context: context, kubeconfig: kubeconfig)
            }
            if kind == .annualExercise && drCluster == nil {
                throw fail(node, "\(path).drCluster", "an annual exercise recovers every namespace into a DR cluster: name it with drCluster: {context: NAME}")
            }
            drills.append(DrillPolicy(
                name: name, cron: try cron(fields["cron"]!, "\(path).cron"), kind: kind, schedule: try fields["schedule"].map { try string($0, "\(path).schedule") } ?? "",
                drCluster: drCluster, database: database, scratchPort: scratchPort, scratchDirectory: scratchDirectory))
        }
        return drills
    }
}
