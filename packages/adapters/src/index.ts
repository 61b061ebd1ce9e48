/**
 * @thaw/adapters — the encoder, adapters, heads, schedules, Fisher, training,
 * the built-in suite, the real benchmarks, and checkpoint formats.
 */
export { Encoder, type EncoderConfig, type EncoderInput, type ForwardMode, type AdapterSetup } from './model/encoder.js';
export type { Adapter } from './adapters/adapter.js';
export { BottleneckAdapter, type BottleneckConfig, type BottleneckLocation } from './adapters/bottleneck.js';
export { ACTIVATIONS, type NonLinearity } from './model/activations.js';
export { Stack, type StackMember } from './adapters/stack.js';
export { NiceCoupling } from './adapters/invertible.js';
export { LoraAdapter, type LoraConfig, type LoraTarget } from './adapters/lora.js';
export { normal, uniform } from './model/random.js';
export { policy, fixedOrder, OFFICIAL_SCHEDULES, type Policy, type SelectContext, type Selection } from './schedules/policies.js';
export { UnfreezeSchedule, type UnfreezeEvent, type ScheduleOptions, type UnfreezeTiming } from './schedules/algorithm1.js';
export { fisherTraces, type FisherOptions, type FisherBatch } from './fisher/traces.js';
export { readSafetensors, writeSafetensors, openSafetensors, SafetensorsError, type HostTensor, type SafetensorsFile, type TensorEntry } from './io/safetensors.js';
export { InputFileError } from './io/input-error.js';
export { readTorchStateDict, writeTorchStateDict } from './io/torch-bin.js';
export { loadHfEncoder, encoderConfigFromHf, encoderName, adapterModelClass, savedModelName, type LoadReport } from './io/hf-checkpoint.js';
export { readAdapterHubFolder, loadAdapterHubAdapter, saveAdapterHubFolder, saveAdapterHubHead, type AdapterHubHead, type AdapterHubContents, type AdapterModel, type SavedModelInfo } from './io/adapterhub.js';
export { loadPeftLora, savePeftLora } from './io/peft.js';
export { Trainer, NonFiniteError, hostTensors, reevaluateBestCheckpoint, type RebuiltRun, type TaskModel, type TaskData, type TrainerOptions, type TrainerCallbacks, type StepReport, type TrainSummary, type RunResults } from './train/trainer.js';
export { ClassificationHead, MultipleChoiceHead, SpanHead, MaskedLmHead, firstToken, type Pooling } from './heads/heads.js';
export { meaning, meanings, entity, NAMES, NOUNS, ADJECTIVES, VERBS, type Meaning, type Entity, type EntityClass } from './data/meanings.js';
export { Language, LANGUAGES, FUNCTION_TOKENS, OptionError, suiteLanguages, type LanguageSpec } from './data/languages.js';
export { WordTokenizer, SPECIALS } from './data/tokenizer.js';
export { nliMeanings, nliExamples, NLI_LABELS, type NliMeaning, type NliExample } from './data/nli.js';
export { mlmPairs } from './data/corpus.js';
export { copaMeanings, copaExamples, CAUSES, type CopaMeaning, type CopaExample } from './data/copa.js';
export { qaMeanings, qaExamples, QUESTION_WORDS, type QaMeaning, type QaExample } from './data/qa.js';
export { maskTokens, mlmTask, type MlmBatch } from './data/mlm.js';
export { pretrainBase, loadBase, trainLanguageAdapter, LANGUAGE_ADAPTER, type PretrainOptions, type MlmStageOptions, type BaseModel } from './suite/pretrain.js';
export { SUITE_TASKS, suiteTask, spanF1, exampleOf, type SuiteTask, type TaskBatch, type TaskHead, type TaskName } from './suite/tasks.js';
export { taskModel, type TaskModelArgs, type BatchOutputs } from './suite/task-model.js';
export { HfTokenizer, type TruncationStrategy, type EncodeOptions, type WindowOptions, type EncodedInput } from './data/hf-tokenizer.js';
export { readXnli, readMnliTrain, NLI_LABEL_IDS, type NliExample as TextNliExample } from './data/benchmarks/xnli.js';
export { readCopa, copaPairs, COPA_QUESTIONS, type CopaExample as TextCopaExample } from './data/benchmarks/copa.js';
export { readSquad, qaFeatures, decodeBestSpan, type QaExample as TextQaExample, type QaAnswer, type QaFeature, type QaFeatureOptions, type DecodeOptions } from './data/benchmarks/squad.js';
export { accuracy, exactMatch, f1, normalizeAnswer, MLQA_LANGUAGES, type MlqaLanguage, type AnswerMetricOptions } from './data/benchmarks/metrics.js';
export { BENCHMARK_TASKS, benchmarkTask, benchmarkFile, type BenchmarkTask, type BenchmarkName } from './benchmark/tasks.js';
export { BENCHMARK_DEFAULTS, checkBenchmarkOptions, trainBenchmarkRun, evaluateBenchmarkRun, readBenchmarkOptions, type BenchmarkRunOptions } from './benchmark/run.js';
export { readStudyConfig, type BenchmarkStudyConfig } from './benchmark/study-config.js';
export { SHIPPED_SUITE, RUN_DEFAULTS, checkRunOptions, trainSuiteRun, evaluateSuiteRun, readRunOptions, loadLanguageAdapter, type SuiteRunOptions } from './suite/run.js';
export { TASK_ADAPTER_TYPES, type TaskAdapterType, type TaskRunOptions } from './train/run-options.js';
export { STUDY_PRESETS, runStudy, checkStudyOptions, aggregate, fisherCurve, runFolder, type StudyOptions, type StudyPreset, type StudyResults, type StudyRun, type ScheduleResults, type StudyCallbacks } from './suite/study.js';
export { summarize, pairedDifference, spearman, curveStatistics, movingAverage, CURVE_STATISTICS, type Summary, type Difference, type CurveStatistics } from './suite/stats.js';
