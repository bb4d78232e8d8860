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
    /// required ones, wrong types, values out of range, an invalid regex, and `kv_store` set
    /// when no cluster is configured and `requireClusterForKVStore` says that is an error.
    public static func parse(_ values: [String: String], clusterConfigured: Bool,
                             requireClusterForKVStore: Bool = true) -> Result<Hyperparameters, HyperparameterProblems> {
        var problems: [String] = []
        let known = Set(definitions.map(\.name))
        // Names SageMaker itself adds (tuning jobs, the Python SDK) are not the algorithm's:
        // skip them instead of failing a real tuning job.
        let values = values.filter { !($0.key == "_tuning_objective_metric" || $0.key.hasPrefix("sagemaker_")) }
        for name in values.keys.sorted() where !known.contains(name) {
            let guess = definitions.map(\.name).min { editDistance(name, $0) < editDistance(name, $1) }
            if let guess, editDistance(name, guess) <= max(2, name.count / 3) {
                problems.append("\(name): unknown hyperparameter; did you mean \(guess)?")
            } else {
                problems.append("\(name): unknown hyperparameter (known: \(definitions.map(\.name).joined(separator: ", ")))")
            }
        }
        func valid(_ name: String) -> String { definitions.first { $0.name == name }!.valid }
        func raw(_ name: String) -> String? { values[name].map { $0.trimmingCharacters(in: .whitespaces) } }
        func bad(_ name: String, _ v: String) { problems.append("\(name)=\(v): must be \(valid(name))") }
        func int(_ name: String, min: Int) -> Int? {
            guard let v = raw(name) else { return nil }
            guard let n = Int(v) ?? Double(v).flatMap({ $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }), n >= min else { bad(name, v); return nil }
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
        let samples = int("num_training_samples", min: 1)
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
            if epochs.count != parts.count || epochs.contains(where: { $0 < 1 }) || epochs != epochs.sorted() || Set(epochs).count != epochs.count {
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
        return problems.isEmpty ? .success(h) : .failure(HyperparameterProblems(messages: problems))
    }

    /// Reads a SageMaker `hyperparameters.json` (a flat object; values strings, numbers or booleans).
    public static func readFile(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperparameterProblems(messages: ["\(path): cannot read the hyperparameters file"])
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw HyperparameterProblems(messages: ["\(path): not a JSON object of hyperparameters"])
        }
        return object.mapValues { v in
            if let s = v as? String { return s }
            if let b = v as? Bool { return b ? "True" : "False" }
            return "\(v)"
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

/// Levenshtein distance (for did-you-mean).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(1, a.count) where !a.isEmpty {
        var prev = row[0]
        row[0] = i
        for j in 1...max(1, b.count) where !b.isEmpty {
            let cur = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
            prev = cur
        }
    }
    return a.isEmpty ? b.count : row[b.count]
}
