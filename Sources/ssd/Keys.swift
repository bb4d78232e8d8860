import ArgumentParser
import Foundation
import ParameterServer

/// `ssd keys`: the CURVE keys of a secure cluster (`param-server`/`worker --secure DIR`).
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate the CURVE keys of a secure cluster (files mode 0600).",
        discussion: """
            Writes server.key/server.pub (the cluster's server key pair), client.key/client.pub (the one \
            client key pair every process connects with) and authorized_keys (client public keys the \
            scheduler and servers admit). Copy the directory to every machine (workers need only \
            server.pub, client.key, client.pub) and start each process with --secure DIR or PS_SECURE_DIR=DIR. \
            Existing files are never overwritten.
            """)

    @Option(help: "Directory to write the keys into (created with mode 0700).") var output: String

    func run() throws {
        do {
            for path in try CurveKeys.generate(into: output) { print(path) }
        } catch {
            FileHandle.standardError.write(Data("ssd keys: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
