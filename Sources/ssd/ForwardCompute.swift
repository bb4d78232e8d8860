import Foundation
import Tensor

/// Start-up of the commands that run forward passes only (`ssd predict`, `ssd serve`,
/// `ssd eval`), as the worker starts: the OpenBLAS kernel family chosen by the self-checked
/// rule (`BLASKernelChoice`: on CPUs newer than the library OpenBLAS would run Prescott's SSE3
/// kernels), freed activation memory kept for the next forward pass (`HeapPolicy`), and the
/// threads of a forward pass of `batch` images (`ComputeThreads`). Call it first in `run()`:
/// the kernel choice may restart the process.
enum ForwardCompute {
    static func start(batch: Int) -> Threading {
        if let warning = BLASKernelChoice.adoptAtStartup().warning {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        HeapPolicy.keepFreedMemoryForReuse()
        return ComputeThreads.resolve(batch: batch, forwardOnly: true).apply()
    }
}
