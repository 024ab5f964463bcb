//! Executor overhead per step (in-memory connectors, no persistence),
//! template rendering, and a persisted 3-step run on SQLite.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use levqor_core::clock::SystemClock;
use levqor_core::config::SyncMode;
use levqor_core::connectors::ConnectorRegistry;
use levqor_core::pipeline::bench::echo_pipeline;
use levqor_core::pipeline::bench::temp_store;
use levqor_core::pipeline::template::{self, Scope};
use levqor_core::pipeline::{
    CompiledPipeline, CostTable, Engine, ExecOptions, Executor, Limits, NewRun, PipelineSettings,
    RunStatus, StepRecord,
};
use serde_json::{Value, json};

fn executor_overhead(c: &mut Criterion) {
    let connectors = ConnectorRegistry::with_builtins();
    let mut g = c.benchmark_group("executor");
    for steps in [1usize, 10, 50] {
        let def = echo_pipeline(steps);
        let plan = CompiledPipeline::compile(&def, &connectors).unwrap();
        let exec = Executor::default();
        let input = json!({"n": 1});
        g.throughput(Throughput::Elements(steps as u64));
        g.bench_with_input(BenchmarkId::new("echo_steps", steps), &steps, |b, _| {
            b.iter(|| {
                let mut recs: Vec<StepRecord> = def
                    .steps
                    .iter()
                    .map(|s| StepRecord::pending(&s.id))
                    .collect();
                let st = exec
                    .run(&plan, "run_bench", &input, &mut recs, &mut |_, _| Ok(()))
                    .unwrap();
                assert_eq!(st, RunStatus::Succeeded);
                black_box(recs)
            })
        });
    }
    g.finish();
}

struct S(Value, Value);
impl Scope for S {
    fn input(&self) -> &Value {
        &self.0
    }
    fn step_output(&self, _id: &str) -> Option<&Value> {
        Some(&self.1)
    }
}

fn templates(c: &mut Criterion) {
    let params = json!({
        "channel": "#sales",
        "text": "New lead {{input.lead.name}} <{{input.lead.email}}> scored {{steps.score.output.score}}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "{{input.lead.note}}"}}],
        "meta": {"id": "{{input.lead.id}}", "static": [1, 2, 3]}
    });
    let node = template::compile(&params).unwrap().unwrap();
    let scope = S(
        json!({"lead": {"name": "Ana", "email": "ana@example.com", "note": "wants a demo", "id": 42}}),
        json!({"score": 0.93}),
    );
    c.bench_function("template/render_slack_params", |b| {
        b.iter(|| black_box(template::render(&node, &scope).unwrap()))
    });
    c.bench_function("template/compile_slack_params", |b| {
        b.iter(|| black_box(template::compile(&params).unwrap()))
    });
}

fn engine(sync: SyncMode) -> Engine {
    let (store, _path) = temp_store(sync).unwrap();
    let settings = PipelineSettings {
        limits: Limits::default(),
        costs: CostTable {
            default: 0,
            per_connector: Default::default(),
        },
        exec: ExecOptions::default(),
        llm: None,
    };
    Engine::new(
        Arc::new(store),
        Arc::new(ConnectorRegistry::with_builtins()),
        Arc::new(SystemClock),
        settings,
    )
}

fn persisted(c: &mut Criterion) {
    let def = echo_pipeline(3);
    let mut g = c.benchmark_group("persisted");
    g.throughput(Throughput::Elements(1));
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let engine = engine(sync);
        let name = format!("run_3_steps_sqlite_{}", sync.as_str().to_lowercase());
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut run = engine
                    .create_run(NewRun {
                        user_id: "usr_bench".into(),
                        pipeline_id: None,
                        def: def.clone(),
                        input: json!({"n": 1}),
                        job_id: None,
                        status: RunStatus::Running,
                    })
                    .unwrap();
                engine.execute(&mut run).unwrap();
                black_box(run.status)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, executor_overhead, templates, persisted);
criterion_main!(benches);
