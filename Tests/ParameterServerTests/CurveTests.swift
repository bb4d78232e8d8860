import Foundation
import Glibc
import Launcher
import ParameterServer
import TestSupport
import Testing

/// A fresh key directory from `CurveKeys.generate`, removed by the caller.
private func makeKeys() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curve-\(UUID().uuidString)").path
    try CurveKeys.generate(into: dir)
    return dir
}

/// A rogue's key directory: the cluster's server public key (public knowledge) with the
/// rogue's own client key pair, which the cluster never authorised.
private func makeRogueKeys(knowing cluster: String) throws -> String {
    let own = try makeKeys()
    let fm = FileManager.default
    for name in [CurveKeys.serverPublicFile, CurveKeys.serverSecretFile, CurveKeys.authorizedFile] {
        try fm.removeItem(atPath: "\(own)/\(name)")
    }
    try fm.copyItem(atPath: "\(cluster)/\(CurveKeys.serverPublicFile)", toPath: "\(own)/\(CurveKeys.serverPublicFile)")
    return own
}

private func mode(_ path: String) throws -> Int {
    try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

@Suite("ZeroMQ CURVE (real sockets on 127.0.0.1)", .serialized,
       .enabled(if: CurveKeys.isAvailable, "this libzmq was built without CURVE"))
struct CurveTests {
    @Test("ssd keys writes 0600 files that load; never overwrites; group-readable keys are refused")
    func keyFiles() throws {
        let dir = try makeKeys()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = [CurveKeys.serverSecretFile, CurveKeys.serverPublicFile, CurveKeys.clientSecretFile,
                     CurveKeys.clientPublicFile, CurveKeys.authorizedFile]
        for n in names { #expect(try mode("\(dir)/\(n)") == 0o600, "\(n)") }
        let keys = try CurveKeys.load(directory: dir)
        #expect(keys.serverSecret != nil && keys.serverPublic != keys.clientPublic)
        #expect(keys.authorized == [keys.clientPublic])
        #expect(throws: SecurityError.exists("\(dir)/\(CurveKeys.serverSecretFile)")) { try CurveKeys.generate(into: dir) }

        chmod("\(dir)/\(CurveKeys.clientSecretFile)", 0o640)
        #expect(throws: SecurityError.tooOpen(path: "\(dir)/\(CurveKeys.clientSecretFile)", mode: 0o640)) {
            try CurveKeys.load(directory: dir)
        }
        let env = ["DMLC_ROLE": "worker", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "9000",
                   "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "1", "PS_SECURE_DIR": dir]
        do {
            _ = try ClusterConfig.resolve(environment: env)
            Issue.record("a group-readable client.key was accepted")
        } catch {
            #expect(error.description.contains("chmod 600"), "\(error)")
        }
        chmod("\(dir)/\(CurveKeys.clientSecretFile)", 0o600)
        #expect(try ClusterConfig.resolve(environment: env).security == keys)
        // A worker's copy without the server secret can connect but not bind.
        try FileManager.default.removeItem(atPath: "\(dir)/\(CurveKeys.serverSecretFile)")
        let workerKeys = try CurveKeys.load(directory: dir)
        #expect(workerKeys.serverSecret == nil)
        #expect(throws: TransportError.self) { try ZeroMQTransport.bind("tcp://127.0.0.1:0", security: workerKeys) }
    }

    @Test("a secure ROUTER answers the authorised key and never hears a client without CURVE or with another key")
    func transportAdmission() throws {
        let dir = try makeKeys(), rogueDir = try makeRogueKeys(knowing: dir)
        defer { for d in [dir, rogueDir] { try? FileManager.default.removeItem(atPath: d) } }
        let keys = try CurveKeys.load(directory: dir), rogue = try CurveKeys.load(directory: rogueDir)
        let server = try ZeroMQTransport.bind("tcp://127.0.0.1:0", security: keys)
        defer { server.close() }
        let endpoint = try #require(server.boundEndpoint)
        let ping = Message(header: MessageHeader(command: .heartbeat, sender: 0), payload: [1, 2, 3, 4])

        let good = try ZeroMQTransport.connect(to: [endpoint], security: keys)
        defer { good.close() }
        try good.send(ping, to: PeerID(endpoint))
        guard case .message(let got, let peer)? = try server.receive(deadline: server.now() + 10) else {
            Issue.record("the authorised client was not heard within 10 s"); return
        }
        #expect(got.payload == ping.payload)
        try server.send(Message(header: got.header.reply(sender: -1), payload: [9]), to: peer)
        guard case .message(let answer, _)? = try good.receive(deadline: good.now() + 10) else {
            Issue.record("the authorised client got no answer within 10 s"); return
        }
        #expect(answer.payload == [9])

        for (name, security) in [("no CURVE", nil), ("an unauthorised key", rogue)] as [(String, CurveKeys?)] {
            let intruder = try ZeroMQTransport.connect(to: [endpoint], security: security)
            defer { intruder.close() }
            try intruder.send(ping, to: PeerID(endpoint))
            let heard = try server.receive(deadline: server.now() + 1.5)
            #expect(heard == nil, "the server heard a client with \(name)")
            #expect(try intruder.receive(deadline: intruder.now() + 0.2) == nil)
        }
        #expect(server.refusedConnections >= 1, "the ZAP handler refused no handshake")
    }

    @Test("a --secure cluster trains like a clean run while intruders cannot register, push or pull")
    func secureCluster() async throws {
        let dir = try makeKeys(), rogueDir = try makeRogueKeys(knowing: dir)
        defer { for d in [dir, rogueDir] { try? FileManager.default.removeItem(atPath: d) } }
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        cluster.extraEnvironment = ["PS_SECURE_DIR": dir]
        let serverPort = try freeLoopbackPort()
        try await cluster.start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        try await cluster.start("server 0", executable: "param-server", arguments: ["--secure", dir],
                          environment: ["DMLC_ROLE": "server", "DMLC_PORT": "\(serverPort)", "PS_SECURE_DIR": ""])
        // Intruders try to register as the one worker: without keys, and with a key not authorised.
        let rogueEnv = ["PS_REGISTRATION_TIMEOUT": "2", "DMLC_WORKER_ID": "0"]
        try await cluster.start("rogue-plain", executable: "ssd", arguments: ["kv-probe", "--steps", "5"],
                                environment: rogueEnv.merging(["PS_SECURE_DIR": ""]) { $1 })
        try await cluster.start("rogue-key", executable: "ssd", arguments: ["kv-probe", "--steps", "5"],
                                environment: rogueEnv.merging(["PS_SECURE_DIR": rogueDir]) { $1 })
        for rogue in ["rogue-plain", "rogue-key"] {
            let s = await cluster.wait(rogue, seconds: 20)
            #expect(s != nil && s != 0, "\(rogue) exit \(String(describing: s)): \(cluster.errors(rogue))")
            #expect(cluster.errors(rogue).contains("no roster from the scheduler"), "\(cluster.errors(rogue))")
        }
        #expect(!cluster.errors("scheduler").contains("registered worker"), "\(cluster.errors("scheduler"))")

        // 30 steps of at least 0.2 s: the server is still serving while the intruders below knock.
        try await cluster.start("worker 0", executable: "ssd", arguments: ["kv-probe", "--rank", "0", "--steps", "30", "--step-delay", "0.2"])
        #expect(await cluster.waitUntil("server 0", logs: "configured:"), "\(cluster.errors("server 0"))")
        // Intruders reach the server's port directly: a push that would change key 0, and a pull.
        let endpoint = "tcp://127.0.0.1:\(serverPort)"
        let codec = WireCodec()
        let push = codec.encode(Message(header: MessageHeader(command: .push, key: 0, sender: 0, round: 1),
                                        payload: [UInt8](repeating: 0x7F, count: 16)))
        let pull = codec.encode(Message(header: MessageHeader(command: .pull, key: 0, sender: 0)))
        for security in [nil, try CurveKeys.load(directory: rogueDir)] as [CurveKeys?] {
            let intruder = try ZeroMQTransport.connect(to: [endpoint], security: security)
            defer { intruder.close() }
            try intruder.sendRaw(push, to: PeerID(endpoint))
            try intruder.sendRaw(pull, to: PeerID(endpoint))
            #expect(try intruder.receive(deadline: intruder.now() + 1) == nil, "an intruder got an answer")
        }
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        // Weights untouched by the intruders: the run equals a clean local run.
        let local = try await runLocalProbe(["--steps", "30"])
        let r = try decodeProbe(cluster.output("worker 0"))
        #expect(r.weights.count == local.weights.count)
        for (x, y) in zip(r.weights, local.weights) { #expect(abs(x - y) <= 1e-5 + 1e-5 * abs(y), "\(r.weights) vs \(local.weights)") }
        #expect(cluster.errors("server 0").contains("secure: CURVE"), "\(cluster.errors("server 0"))")
        for name in ["scheduler", "server 0"] {
            #expect(cluster.errors(name).contains("refused a CURVE client at 127.0.0.1"), "\(name): \(cluster.errors(name))")
        }
    }
}
