import Tensor
import Testing

@Suite("ComputeThreads: how many threads and who runs the GEMMs")
struct ComputeThreadsTests {
    @Test("threads: the request, else OPENBLAS_NUM_THREADS (a launcher's share), else every core")
    func threadCount() {
        let env = ["OPENBLAS_NUM_THREADS": "3"]
        #expect(ComputeThreads.resolve(requested: 5, batch: 8, environment: env, cores: 16).threads == 5)
        #expect(ComputeThreads.resolve(requested: 0, batch: 8, environment: env, cores: 16).threads == 1)
        let fromEnvironment = ComputeThreads.resolve(batch: 8, environment: env, cores: 16)
        #expect(fromEnvironment.threads == 3 && fromEnvironment.source == "OPENBLAS_NUM_THREADS")
        #expect(ComputeThreads.resolve(batch: 8, environment: [:], cores: 16).threads == 16)
        #expect(ComputeThreads.resolve(batch: 8, environment: ["OPENBLAS_NUM_THREADS": "x"], cores: 2).threads == 2)
    }

    @Test("GEMMs on own threads with at least one image per thread, else OpenBLAS-threaded; forced choices obeyed")
    func gemms() {
        func resolve(_ threads: Int, batch: Int, _ gemms: ComputeThreads.GEMMs = .auto) -> ComputeThreads {
            ComputeThreads.resolve(requested: threads, batch: batch, gemms: gemms, environment: [:], cores: 2)
        }
        let training = resolve(2, batch: 8)
        #expect(training.gemmsOnOwnThreads && training.blasThreads == 1)
        #expect(training.threading.threads == 2 && training.threading.gemmThreads == 2)
        let smallBatch = resolve(2, batch: 1)
        #expect(!smallBatch.gemmsOnOwnThreads && smallBatch.blasThreads == 2 && smallBatch.threading.gemmThreads == 1)
        // Forward-only (ssd predict, ssd serve): the forward pass splits an image's pixels over the threads.
        let predict = ComputeThreads.resolve(requested: 2, batch: 1, forwardOnly: true, environment: [:], cores: 2)
        #expect(predict.gemmsOnOwnThreads && predict.blasThreads == 1 && predict.threading.gemmThreads == 2)
        #expect(!resolve(1, batch: 8).gemmsOnOwnThreads && resolve(1, batch: 8).blasThreads == 1)
        #expect(resolve(4, batch: 4).gemmsOnOwnThreads && !resolve(4, batch: 3).gemmsOnOwnThreads)
        #expect(resolve(2, batch: 1, .own).gemmsOnOwnThreads && !resolve(2, batch: 8, .openblas).gemmsOnOwnThreads)
        #expect(!resolve(1, batch: 8, .own).gemmsOnOwnThreads)
    }

    @Test("several workers on one host share its cores, at least one thread each")
    func perWorker() {
        #expect(ComputeThreads.perWorker(cores: 16, workers: 8) == 2)
        #expect(ComputeThreads.perWorker(cores: 2, workers: 4) == 1)
        #expect(ComputeThreads.perWorker(cores: 16, workers: 3) == 5)
    }
}
