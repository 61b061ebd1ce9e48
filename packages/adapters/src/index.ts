/**
 * @thaw/adapters — the encoder, adapters, heads, schedules, Fisher, training,
 * the built-in suite, runs on real files (checkpoints, AdapterHub adapters,
 * datasets), the run spec, studies, and checkpoint formats.
 */
export { Encoder, encoderParamSpecs, type EncoderParamSpec, type EncoderConfig, type EncoderInput, type ForwardMode, type AdapterSetup, type ProjectionSite, type ResidualLocation, type LayerNormWeights } from './model/encoder.js';
export { adapterModel, type Adapter, type AdapterModel, type AdapterType, type ConfigFormat, type PeftFormat, type Invertible, type ResidualStep, type RunKind, type SavedConfigContext } from './adapters/adapter.js';
export { ADAPTER_TYPES, ADAPTER_TYPE_NAMES, adapterType, adapterTypeOf } from './adapters/registry.js';
export { BottleneckAdapter, SEQ_BN, DOUBLE_SEQ_BN, type BottleneckConfig, type BottleneckLocation } from './adapters/bottleneck.js';
export { ACTIVATIONS, type NonLinearity } from './model/activations.js';
export { Stack } from './adapters/stack.js';
export { NiceCoupling } from './adapters/invertible.js';
export { LoraAdapter, LORA, type LoraConfig, type LoraTarget } from './adapters/lora.js';
export { Ia3Adapter, IA3, type Ia3Config } from './adapters/ia3.js';
export { normal, uniform } from './model/random.js';
export { policy, fixedOrder, OFFICIAL_SCHEDULES, type Policy, type SelectContext, type Selection } from './schedules/policies.js';
export { UnfreezeSchedule, type UnfreezeEvent, type ScheduleOptions, type UnfreezeTiming } from './schedules/algorithm1.js';
export { fisherTraces, type FisherOptions, type FisherBatch } from './fisher/traces.js';
export { readSafetensors, writeSafetensors, writeSafetensorsPieces, openSafetensors, PIECE_BYTES, SafetensorsError, type HostTensor, type TensorPieces, type PieceReader, type SafetensorsFile, type TensorEntry } from './formats/safetensors.js';
export { InputFileError } from './errors/input-error.js';
export { openTorchStateDict, readTorchStateDict, writeTorchStateDict, type TorchStateDict } from './formats/torch-bin.js';
export { loadHfEncoder, encoderConfigFromHf, encoderName, adapterModelClass, savedModelName, type LoadReport } from './checkpoints/hf-checkpoint.js';
export { readAdapterHubFolder, loadAdapterHubAdapter, saveAdapterHubFolder, saveAdapterHubHead, type AdapterHubHead, type AdapterHubContents, type SavedModelInfo } from './checkpoints/adapterhub.js';
export { writeSyntheticCheckpoint, hfConfigOf, SYNTHETIC_ENCODERS } from './checkpoints/synthetic.js';
export { fillParams, fillParamsFromSafetensors, heldTensor, storedTensors, type StoredTensor, type FillOptions } from './checkpoints/fill-params.js';
export { loadPeftAdapter, savePeftAdapter, peftSaves, type PeftTaskType } from './checkpoints/peft.js';
export { Trainer, NonFiniteError, hostTensors, reevaluateBestCheckpoint, type RebuiltRun, type TaskModel, type TaskData, type TrainerOptions, type TrainerCallbacks, type StepReport, type TrainSummary, type RunResults } from './train/trainer.js';
export { TrainingStep, DEFAULT_LOG_EVERY, type StepModel, type StepOptions, type StepReadout } from './train/step.js';
export { ClassificationHead, MultipleChoiceHead, SpanHead, MaskedLmHead, firstToken, type Pooling } from './heads/heads.js';
export { meaning, meanings, entity, NAMES, NOUNS, ADJECTIVES, VERBS, type Meaning, type Entity, type EntityClass } from './suite/meanings.js';
export { Language, LANGUAGES, FUNCTION_TOKENS, suiteLanguages, type LanguageSpec } from './suite/languages.js';
export { OptionError } from './errors/option-error.js';
export { FileWriteError } from './errors/write-error.js';
export { writeFileAtomic } from './formats/atomic-file.js';
export { WordTokenizer, SPECIALS } from './suite/tokenizer.js';
export { nliMeanings, nliExamples, NLI_LABELS, type NliMeaning, type SuiteNliExample } from './suite/nli.js';
export { mlmPairs } from './suite/corpus.js';
export { copaMeanings, copaExamples, CAUSES, type CopaMeaning, type SuiteCopaExample } from './suite/copa.js';
export { qaMeanings, qaExamples, QUESTION_WORDS, type QaMeaning, type SuiteQaExample } from './suite/qa.js';
export { maskTokens, mlmTask, type MlmBatch } from './suite/mlm.js';
export { pretrainBase, loadBase, trainLanguageAdapter, LANGUAGE_ADAPTER, type PretrainOptions, type MlmStageOptions, type BaseModel } from './suite/pretrain.js';
export { SUITE_TASKS, suiteTask, spanF1, type SuiteTask, type TaskName } from './suite/tasks.js';
export { exampleOf, type TaskBatch, type TaskHead } from './train/task.js';
export { taskModel, type TaskModelArgs, type BatchOutputs } from './train/task-model.js';
export { HfTokenizer, type TruncationStrategy, type EncodeOptions, type WindowOptions, type EncodedInput } from './formats/hf-tokenizer.js';
export { readXnli, readMnliTrain, NLI_LABEL_IDS, type TextNliExample } from './datasets/xnli.js';
export { readCopa, copaPairs, COPA_QUESTIONS, type TextCopaExample } from './datasets/copa.js';
export { readSquad, qaFeatures, decodeBestSpan, type TextQaExample, type QaAnswer, type QaFeature, type QaFeatureOptions, type DecodeOptions } from './datasets/squad.js';
export { accuracy, exactMatch, f1, normalizeAnswer, MLQA_LANGUAGES, type MlqaLanguage, type AnswerMetricOptions } from './datasets/metrics.js';
export { DATASET_TASKS, datasetTask, datasetFile, type DatasetTask, type DatasetName } from './hub/tasks.js';
export { trainHubRun, evaluateHubRun, readHubRunSpec, type HubRunSpec } from './hub/run.js';
export { readStudyConfig, type HubStudyConfig, type HubStudyRun, type SlurmSettings } from './hub/study-config.js';
export { trainSuiteRun, evaluateSuiteRun, readSuiteRunSpec, loadLanguageAdapter, type SuiteRunSpec } from './suite/run.js';
export type { TaskRunSpec } from './train/run-spec.js';
export { SHIPPED_SUITE, SUITE_DEFAULTS, HUB_DEFAULTS } from './spec/defaults.js';
export { RUN_FLAGS, type RunGiven, type RunOptionName } from './spec/fields.js';
export { suiteRunSpec, hubRunSpec, runSpec, isHubRunSpec, runStepShape, checkRunFits } from './spec/run-spec.js';
export { stepBuffers, hostBatchBytes, checkStepFits, stepLimits, HOST_BYTES_PER_TOKEN, type StepShape, type StepBuffer, type StepLimits, type StepFlags } from './train/step-size.js';
export {
  STUDY_PRESETS, studyPlan, studyFile, readStudyFile, startStudy, unfinishedRuns, trainStudyRun, collectStudy, runStudy, aggregate, fisherCurve, runFolder,
  type StudyOptions, type StudyPlan, type StudyFile, type StudyPreset, type StudyResults, type StudyRun, type ScheduleResults, type StudyCallbacks, type StudyRunOutcome, type RunFailure,
} from './study/study.js';
export { portablePaths, resolvedPaths } from './study/paths.js';
export { claimRun, releaseRun, readClaim, describeOwner, type ClaimOwner, type ClaimResult } from './study/claims.js';
export {
  runLocalPool, localLog, checkSlurm, submitStudy, waitForJob, cancelStudy, readSlurmJobs, taskOfRun,
  type ThawCommand, type PoolRunEnd, type SlurmStudyOptions, type StudySubmission, type SlurmJobs, type SubmittedArray,
} from './study/executors.js';
export { studyStatus, type StudyStatus, type RunStatus, type RunState } from './study/status.js';
export { summarize, pairedDifference, spearman, curveStatistics, movingAverage, CURVE_STATISTICS, type Summary, type Difference, type CurveStatistics } from './study/stats.js';
export * as slurm from './study/slurm.js';
