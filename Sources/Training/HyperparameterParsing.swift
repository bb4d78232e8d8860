import Foundation
import Optimizers
import ParameterServer

/// Every problem found in a set of hyperparameters, one message each.
public struct HyperparameterProblems: Error, CustomStringConvertible, Equatable {
    public var messages: [String]

    public var description: String {
        "invalid hyperparameters:\n" + messages.map { "  - \($0)" }.joined(separator: "\n")
    }
}

extension Hyperparameters {
    /// Parses and validates values given as strings (SageMaker writes every value as a
    /// string), collecting every problem: unknown names (with a did-you-mean), missing
    /// required ones, wrong types (an integer parameter takes only an integer spelling, so
    /// `1e3` and `10.0` are refused), values out of range or beyond `limits` (the caps and the
    /// memory one batch needs, see `HyperparameterLimits`), an invalid regex, and `kv_store` set
    /// when no cluster is configured and `requireClusterForKVStore` says that is an error.
    public static func parse(_ values: [String: String], clusterConfigured: Bool,
                             requireClusterForKVStore: Bool = true,
                             limits: HyperparameterLimits = .thisMachine) -> Result<Hyperparameters, HyperparameterProblems> {
        var problems: [String] = []
        let known = Set(definitions.map(\.name))
        // Names SageMaker itself adds (tuning jobs, the Python SDK) are not the algorithm's:
        // skip them instead of failing a real tuning job.
        let values = values.filter { !($0.key == "_tuning_objective_metric" || $0.key.hasPrefix("sagemaker_")) }
        for (n, name) in values.keys.sorted().filter({ !known.contains($0) }).enumerated() {
            // A suggestion must be within `limit` edits, and the distance is at least the length
            // difference, so only names of about the right length are compared (each comparison
            // costs length × length: a file of a thousand long keys must not stall parsing), and
            // only for the first 20 unknown names.
            let limit = max(2, name.count / 3)
            let candidates = n >= 20 ? [] : definitions.filter { abs($0.name.utf8.count - name.utf8.count) <= limit }
            let guess = candidates.map { ($0.name, editDistance(name, $0.name)) }.min { $0.1 < $1.1 }
            if let guess, guess.1 <= limit {
                problems.append("\(name): unknown hyperparameter; did you mean \(guess.0)?")
            } else {
                problems.append("\(name.prefix(100)): unknown hyperparameter (known: \(definitions.map(\.name).joined(separator: ", ")))")
            }
        }
        func valid(_ name: String) -> String { definitions.first { $0.name == name }!.valid }
        func raw(_ name: String) -> String? { values[name].map { $0.trimmingCharacters(in: .whitespaces) } }
        func bad(_ name: String, _ v: String) { problems.append("\(name)=\(v): must be \(valid(name))") }
        // Integer spellings only (`Int` reads optional sign and ASCII digits): "1e3" or "10.0"
        // is refused rather than rounded. `max` is a documented cap (HyperparameterLimits).
        func int(_ name: String, min: Int, max: Int = HyperparameterLimits.maxCount) -> Int? {
            guard let v = raw(name) else { return nil }
            guard let n = Int(v), n >= min else { bad(name, v); return nil }
            guard n <= max else { problems.append("\(name)=\(v): must be at most \(max) (\(valid(name)))"); return nil }
            return n
        }
        func float(_ name: String, _ ok: (Float) -> Bool) -> Float? {
            guard let v = raw(name) else { return nil }
            guard let f = Float(v), f.isFinite, ok(f) else { bad(name, v); return nil }
            return f
        }
        func choice<T: RawRepresentable>(_ name: String, _: T.Type) -> T? where T.RawValue == String {
            guard let v = raw(name) else { return nil }
            guard let t = T(rawValue: v) ?? T(rawValue: v.lowercased()) else { bad(name, v); return nil }
            return t
        }
        let numClasses = int("num_classes", min: 1)
        let samples = int("num_training_samples", min: 1, max: HyperparameterLimits.maxSamples)
        if values["num_classes"] == nil { problems.append("num_classes: required; must be \(valid("num_classes"))") }
        if values["num_training_samples"] == nil { problems.append("num_training_samples: required; must be \(valid("num_training_samples"))") }
        var h = Hyperparameters(numClasses: numClasses ?? 1, numTrainingSamples: samples ?? 1)
        if let v = choice("base_network", BaseNetwork.self) { h.baseNetwork = v }
        if let v = raw("use_pretrained_model") {
            if v == "0" || v == "1" { h.usePretrainedModel = v == "1" } else { bad("use_pretrained_model", v) }
        }
        if let v = int("epochs", min: 1) { h.epochs = v }
        if let v = float("learning_rate", { $0 > 0 && $0 <= 1 }) { h.learningRate = v }
        if let v = float("lr_scheduler_factor", { $0 > 0 && $0 < 1 }) { h.lrSchedulerFactor = v }
        if let v = raw("lr_scheduler_step"), !v.isEmpty {
            let parts = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let epochs = parts.compactMap { Int($0) }
            if epochs.count != parts.count || epochs.contains(where: { $0 < 1 || $0 > HyperparameterLimits.maxCount })
                || epochs != epochs.sorted() || Set(epochs).count != epochs.count {
                bad("lr_scheduler_step", v)
            } else {
                h.lrSchedulerStep = epochs
            }
        }
        if let v = choice("optimizer", OptimizerKind.self) { h.optimizer = v }
        if let v = float("momentum", { $0 > 0 && $0 <= 1 }) { h.momentum = v }
        if let v = float("weight_decay", { $0 > 0 && $0 < 1 }) { h.weightDecay = v }
        if let v = int("mini_batch_size", min: 1) { h.miniBatchSize = v }
        if let v = int("image_shape", min: 300) { h.imageShape = v }
        if let v = int("label_width", min: 7) { h.labelWidth = v }
        if let v = float("nms_threshold", { $0 > 0 && $0 <= 1 }) { h.nmsThreshold = v }
        if let v = float("overlap_threshold", { $0 > 0 && $0 <= 1 }) { h.overlapThreshold = v }
        if let v = raw("freeze_layer_pattern"), !v.isEmpty {
            if (try? NSRegularExpression(pattern: v)) == nil { bad("freeze_layer_pattern", v) } else { h.freezeLayerPattern = v }
        }
        if let v = raw("kv_store"), !v.isEmpty {
            if let kv = SyncMode(rawValue: v) {
                if clusterConfigured { h.kvStore = kv } else if requireClusterForKVStore {
                    problems.append("kv_store=\(v): needs a cluster (DMLC_ROLE, DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER, "
                                    + "DMLC_NUM_WORKER, or SM_HOSTS) — start it with deploy/local.sh or `ssd train --workers N`")
                }
            } else if v != "local" {
                bad("kv_store", v)
            }
        }
        if let v = raw("early_stopping") {
            switch v.lowercased() {
            case "true", "1": h.earlyStopping = true
            case "false", "0": h.earlyStopping = false
            default: bad("early_stopping", v)
            }
        }
        if let v = int("early_stopping_min_epochs", min: 1) { h.earlyStoppingMinEpochs = v }
        if let v = int("early_stopping_patience", min: 1) { h.earlyStoppingPatience = v }
        if let v = float("early_stopping_tolerance", { $0 >= 0 && $0 <= 1 }) { h.earlyStoppingTolerance = v }
        // Memory is checked once every size is individually valid, so the message can say
        // which value to lower and to what.
        if problems.isEmpty, let problem = limits.memoryProblem(h) { problems.append(problem) }
        return problems.isEmpty ? .success(h) : .failure(HyperparameterProblems(messages: problems))
    }

    /// Reads a SageMaker `hyperparameters.json`: a flat object whose values are strings (what
    /// SageMaker writes), numbers or booleans. A JSON number stays a number (`1` → "1",
    /// `0.5` → "0.5") and only `true`/`false` become "True"/"False"; nested values and null are
    /// errors naming the key.
    public static func readFile(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperparameterProblems(messages: ["\(path): cannot read the hyperparameters file"])
        }
        return try decodeFile(data, source: path)
    }

    /// Decodes the bytes of a `hyperparameters.json`; `source` names it in errors.
    public static func decodeFile(_ data: Data, source: String) throws -> [String: String] {
        let object: [String: JSONScalar]
        do { object = try JSONDecoder().decode([String: JSONScalar].self, from: data) } catch {
            throw HyperparameterProblems(messages: ["\(source): not a JSON object of hyperparameters (\(error))"])
        }
        var out: [String: String] = [:], problems: [String] = []
        for (name, value) in object.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .string(let s): out[name] = s
            case .bool(let b): out[name] = b ? "True" : "False"
            case .integer(let n): out[name] = String(n)
            case .real(let d): out[name] = "\(d)"
            case .unsupported(let kind):
                problems.append("\(name): \(kind) in \(source); a hyperparameter is a string (SageMaker writes \"\(name)\": \"value\"), a number or a boolean")
            }
        }
        guard problems.isEmpty else { throw HyperparameterProblems(messages: problems) }
        return out
    }

    /// One value of `hyperparameters.json`. Decoded with `JSONDecoder`, which keeps JSON's
    /// types apart (JSONSerialization's NSNumber reads `1` as `true` when cast to Bool).
    enum JSONScalar: Decodable {
        case string(String), bool(Bool), integer(Int), real(Double), unsupported(String)

        init(from decoder: Decoder) throws {
            guard let c = try? decoder.singleValueContainer() else { self = .unsupported("a nested value (object or array)"); return }
            if c.decodeNil() { self = .unsupported("null"); return }
            if let s = try? c.decode(String.self) { self = .string(s) }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Int.self) { self = .integer(n) }
            else if let d = try? c.decode(Double.self) { self = .real(d) }
            else { self = .unsupported("a nested value (object or array)") }
        }
    }

    /// Splits command-line arguments into hyperparameters — `--name value` or `--name=value`
    /// where `name` is a hyperparameter (dashes may stand for underscores) or contains an
    /// underscore (so a misspelt one is reported, not ignored) — and everything else.
    public static func extractFlags(_ arguments: [String]) -> (hyperparameters: [String: String], remaining: [String]) {
        let known = Set(definitions.map(\.name))
        var found: [String: String] = [:], rest: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            let body = a.hasPrefix("--") ? String(a.dropFirst(2)) : ""
            let name = String(body.prefix { $0 != "=" }).replacingOccurrences(of: "-", with: "_")
            if !body.isEmpty, known.contains(name) || body.prefix(while: { $0 != "=" }).contains("_") {
                if let eq = body.firstIndex(of: "=") {
                    found[name] = String(body[body.index(after: eq)...])
                } else if i + 1 < arguments.count {
                    found[name] = arguments[i + 1]
                    i += 1
                } else {
                    found[name] = ""
                }
            } else {
                rest.append(a)
            }
            i += 1
        }
        return (found, rest)
    }
}

/// Levenshtein distance over UTF-8 bytes (for did-you-mean; the names are ASCII).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in 1...b.count {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}

/// Upper bounds on hyperparameters, so that a value the machine cannot hold is a validation
/// message before any work instead of an allocation abort (`mini_batch_size=99999999` once
/// asked for terabytes and died with SIGABRT).
///
/// Counts are capped at `maxCount` (a million: epochs, steps, patience, batch, label width,
/// classes) and `num_training_samples` at `maxSamples` (2^40), which keeps every product the
/// trainer forms (epoch × updates per epoch, batch × pixels) far from `Int` overflow. On top,
/// the memory one batch needs *at least* must fit the machine's memory: the feature maps the
/// forward pass keeps for backward — one output per convolution node, counted layer by layer
/// from the networks' definitions (pools, batch norms, gradients and im2col buffers left out,
/// so this is a lower bound and never refuses a run that would fit) — plus the class heads'
/// weights and gradients and the padded labels:
///
/// - VGG16-reduced: conv1 2×64 + conv2 2×128/4 + conv3 3×256/16 + conv4 3×512/64 +
///   conv5 3×512/256 + fc6, fc7 2×1024/256 = 278 floats per input pixel; taken as 256
///   (1 KiB). ResNet-50: conv0 64/4, stage 1 (64+64+256)×3/16 + 256/16, stage 2 … = 211
///   floats; taken as 192 (768 B).
/// - Heads: VGG16-reduced's six sources give Σ channels × anchors = 512·4 + 1024·6 + 512·6
///   + 256·6 + 256·4 + 256·4 = 14 848, so each class adds 9 × 14 848 weights (3×3 kernels) and
///   as many gradients: 1.07 MB, taken as 1 MiB (ResNet's heads are wider).
public struct HyperparameterLimits: Equatable, Sendable {
    /// Bytes of memory a worker may use: physical memory, or the cgroup limit when lower.
    public var memoryBytes: UInt64

    /// Creates limits for a machine with `memoryBytes` of memory.
    public init(memoryBytes: UInt64) { self.memoryBytes = memoryBytes }

    /// The limits of the machine this process runs on.
    public static var thisMachine: HyperparameterLimits {
        var bytes = ProcessInfo.processInfo.physicalMemory
        // A container's limit (cgroup v2, then v1) is what an allocation actually hits.
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
               let limit = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
                bytes = min(bytes, limit)
            }
        }
        return HyperparameterLimits(memoryBytes: bytes)
    }

    /// Cap of every count hyperparameter (epochs, lr_scheduler_step epochs, mini_batch_size,
    /// label_width, num_classes, image_shape, early-stopping counts).
    public static let maxCount = 1_000_000
    /// Cap of `num_training_samples`.
    public static let maxSamples = 1 << 40
    /// Bytes of feature maps per input pixel per image, at least (see the type's comment).
    public static func activationBytesPerPixel(_ base: Hyperparameters.BaseNetwork) -> Double {
        base == .vgg16 ? 1024 : 768
    }
    /// Bytes of head weights and gradients per class, at least.
    public static let headBytesPerClass: Double = 1_048_576

    /// Lower bound of the bytes a worker needs with these hyperparameters.
    public static func minimumBytes(_ h: Hyperparameters, batch: Int? = nil) -> Double {
        let shape = Double(h.imageShape)
        let perImage = activationBytesPerPixel(h.baseNetwork) * shape * shape + 4 * Double(h.labelWidth)
        return Double(batch ?? h.miniBatchSize) * perImage + headBytesPerClass * Double(h.numClasses + 1)
    }

    /// A message naming the value to lower when these hyperparameters cannot fit in memory.
    func memoryProblem(_ h: Hyperparameters) -> String? {
        let memory = Double(memoryBytes)
        let have = "this machine's \(Self.bytes(memory)) of memory"
        let heads = Self.headBytesPerClass * Double(h.numClasses + 1)
        if heads > memory {
            let fit = Int(memory / Self.headBytesPerClass) - 1
            return "num_classes=\(h.numClasses): the class heads alone need at least \(Self.bytes(heads)) (1 MiB per class), "
                + "more than \(have); at most \(max(0, fit)) classes fit"
        }
        if Self.minimumBytes(h, batch: 1) > memory {
            let perPixel = Self.activationBytesPerPixel(h.baseNetwork)
            let fit = Int(((memory - heads - 4 * Double(h.labelWidth)) / perPixel).squareRoot())
            if perPixel * Double(h.imageShape) * Double(h.imageShape) > 4 * Double(h.labelWidth) {
                return "image_shape=\(h.imageShape): one image needs at least \(Self.bytes(Self.minimumBytes(h, batch: 1))) of feature maps "
                    + "(\(Int(perPixel)) bytes per pixel), more than \(have); at most image_shape=\(max(0, fit)) fits"
            }
            return "label_width=\(h.labelWidth): one label needs \(Self.bytes(4 * Double(h.labelWidth))), more than \(have)"
        }
        if Self.minimumBytes(h) > memory {
            let fit = Int((memory - heads) / (Self.minimumBytes(h, batch: 1) - heads))
            return "mini_batch_size=\(h.miniBatchSize): a batch at image_shape=\(h.imageShape) needs at least "
                + "\(Self.bytes(Self.minimumBytes(h))) of feature maps, more than \(have); at most mini_batch_size=\(fit) fits"
        }
        return nil
    }

    /// Bytes as "12.3 GiB".
    static func bytes(_ b: Double) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = b, i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(Int(v)) bytes" : String(format: "%.1f", v) + " " + units[i]
    }
}
