/**
 * flowgate as a library: build a workflow in code and run it.
 *
 * ```ts
 * import { workflow, run } from 'flowgate';
 * const wf = workflow('demo');
 * const fetch = wf.node('fetch', { command: ['sh', '-c', 'echo data > out.txt'] });
 * wf.node('count', { command: 'wc -c ../fetch/out.txt', needs: [fetch], n_procs: 1, mem_gb: 0.5 });
 * const summary = await run(wf, { n_procs: 2, memory_gb: 4, status_callback: (e) => console.log(e.type, e.node) });
 * ```
 */
export { path, workflow, WorkflowBuilder, type NodeRef, type NodeSpec, type StepNodeSpec, type WorkflowDefaults, type ShellOption, type BuilderOptions } from './api/workflow.js';
export { stepModule, type Step, type StepModule, type StepRef, type StepOf, type StepExports, type StepFunction, type StepInputs, type StepOutputs, type Connection, type InputValue } from './api/step.js';
export type { FunctionContext } from './shared/function-context.js';
export { run, type CallbackErrors, type RunOptions, type StatusEvent } from './api/run.js';
export { resume, type ResumeOptions } from './api/resume.js';
export type { NodeSummary, RunSummary, RunStatus, NodeFinalStatus, FailureSummary, AttemptSummary } from './scheduler/summary.js';
export type { Workflow, WorkflowNode } from './shared/workflow/model.js';
export type { WorkflowFile } from './shared/workflow/schema.js';
export { ERROR_CODES, FlowgateError, ValidationError, type ErrorCodeSpec, type ValidationIssue, type ErrorCode } from './shared/errors.js';
