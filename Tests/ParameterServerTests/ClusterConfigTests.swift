@testable import ParameterServer
import Testing

@Suite("Cluster configuration")
struct ClusterConfigTests {
    let base = ["DMLC_ROLE": "worker", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "9091",
                "DMLC_NUM_SERVER": "2", "DMLC_NUM_WORKER": "3"]

    @Test("MXNet's environment, with flags winning")
    func environmentAndFlags() throws {
        let c = try ClusterConfig.resolve(environment: base, flags: ["DMLC_NUM_WORKER": "4", "DMLC_WORKER_ID": "2"])
        #expect(c.role == .worker && c.rootURI == "127.0.0.1" && c.rootPort == 9091)
        #expect(c.numServers == 2 && c.numWorkers == 4 && c.requestedRank == 2)
        #expect(c.schedulerEndpoint == "tcp://127.0.0.1:9091")
        #expect(c.nodeHost == "127.0.0.1")
    }

    @Test("each missing or invalid value names itself and the fix")
    func errors() {
        for name in ["DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER"] {
            var env = base
            env[name] = nil
            #expect {
                _ = try ClusterConfig.resolve(environment: env)
            } throws: { "\($0)".contains("\(name) is not set") }
        }
        for (name, value) in [("DMLC_PS_ROOT_PORT", "abc"), ("DMLC_PS_ROOT_PORT", "0"), ("DMLC_NUM_WORKER", "0"),
                              ("DMLC_NUM_SERVER", "-1"), ("DMLC_ROLE", "master"), ("DMLC_WORKER_ID", "3"),
                              ("PS_HEARTBEAT_TIMEOUT", "-5")] {
            var env = base
            env[name] = value
            #expect {
                _ = try ClusterConfig.resolve(environment: env)
            } throws: { "\($0)".contains("\(name)=\(value) is invalid") }
        }
    }

    @Test("SageMaker's SM_HOSTS / SM_CURRENT_HOST: scheduler on the first host, one server and worker per host")
    func sageMaker() throws {
        let c = try ClusterConfig.resolve(environment: ["DMLC_ROLE": "worker", "SM_HOSTS": "[\"algo-2\",\"algo-1\",\"algo-3\"]",
                                                        "SM_CURRENT_HOST": "algo-2"])
        #expect(c.rootURI == "algo-1" && c.numServers == 3 && c.numWorkers == 3)
        #expect(c.requestedRank == 1 && c.nodeHost == "algo-2")
        #expect {
            _ = try ClusterConfig.resolve(environment: ["DMLC_ROLE": "worker", "SM_HOSTS": "algo-1,algo-2"])
        } throws: { "\($0)".contains("SM_HOSTS=algo-1,algo-2 is invalid: expected a non-empty JSON list") }
    }

    @Test("key layout: small arrays whole on (key·9973) mod S, large ones split evenly")
    func keyLayout() {
        let layout = KeyLayout(counts: [0: 10, 1: 10, 5: 3000], numServers: 3, bigArrayBound: 1000)
        #expect(layout.parts[0]! == [.init(server: 0, slice: 0, sliceCount: 1, offset: 0, count: 10)])
        #expect(layout.parts[1]!.first?.server == 9973 % 3)
        #expect(layout.parts[5]!.map(\.count) == [1000, 1000, 1000])
        #expect(layout.parts[5]!.map(\.offset) == [0, 1000, 2000])
    }
}
