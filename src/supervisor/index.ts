/** The supervisor stage: run the command, coalesce changes, readiness, health endpoints. */
export {
  ChildSupervisor,
  ChildStartError,
  exitStatus,
  type BackoffOptions,
  type ChildEndCause,
  type ChildExitInfo,
  type ChildRestartInfo,
  type ChildStartInfo,
  type ChildSupervisorEvents,
  type ChildSupervisorOptions,
  type ForwardedSignal,
  type RestartPolicy,
} from './child.js';
export {
  ChangeCoalescer,
  strongerAction,
  type ChangeAction,
  type ChangeCoalescerOptions,
} from './coalesce.js';
export { ReadinessNotifier } from './readiness.js';
export {
  Metrics,
  escapeLabelValue,
  evaluateReadiness,
  formatMetrics,
  parseListen,
  startHealthServer,
  type HealthServer,
  type HealthServerOptions,
  type HealthStatus,
  type ListenAddress,
  type Readiness,
  type SecretHealth,
  type TemplateHealth,
} from './health.js';
export { CREDENTIAL_ENV_NAMES, childEnv, type ChildEnv, type ChildEnvOptions } from './env.js';
export { warnIfPid1 } from './pid1.js';
export { runHook, type HookOptions, type HookRun } from './hooks.js';
