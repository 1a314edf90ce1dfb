//! The C driver linked with a compiled model in the tests: calls `NAME_run` on
//! fixed inputs and prints its status, the outputs' bytes and the descriptor, then
//! checks that null arguments are refused.

use std::fmt::Write;

use nnc_ir::kernel::Program;

use super::Outcome;

/// C source of a driver for `program` on `inputs` (one byte vector per input).
pub(super) fn c_driver(program: &Program, inputs: &[Vec<u8>]) -> String {
    let name = &program.name;
    let mut c = String::from(
        r#"#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    uint32_t dtype;
    uint32_t rank;
    const uint64_t *shape;
    uint64_t bytes;
} nnc_tensor_desc;

typedef struct {
    uint32_t abi_version, num_inputs, num_outputs, reserved;
    const nnc_tensor_desc *inputs;
    const nnc_tensor_desc *outputs;
    uint64_t arena_size, arena_align;
} nnc_model_desc;

static void print_bytes(const char *what, int k, const uint8_t *p, size_t n) {
    printf("%s %d", what, k);
    for (size_t i = 0; i < n; i++) printf(" %02x", p[i]);
    printf("\n");
}

static void print_tensors(const char *what, const nnc_tensor_desc *t, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        printf("%s %s dtype %u rank %u shape", what, t[i].name, t[i].dtype, t[i].rank);
        for (uint32_t d = 0; d < t[i].rank; d++) printf(" %llu", (unsigned long long)t[i].shape[d]);
        printf(" bytes %llu\n", (unsigned long long)t[i].bytes);
    }
}
"#,
    );
    let _ = writeln!(c, "extern const nnc_model_desc {name}_descriptor;");
    let _ = writeln!(
        c,
        "extern int {name}_run(const void *const *inputs, void *const *outputs, void *arena);"
    );
    for (k, bytes) in inputs.iter().enumerate() {
        let items: Vec<String> = bytes.iter().map(|b| b.to_string()).collect();
        let _ = writeln!(
            c,
            "static const uint8_t in{k}[{}] __attribute__((aligned(64))) = {{{}}};",
            bytes.len().max(1),
            items.join(",")
        );
    }
    for (k, spec) in program.outputs.iter().enumerate() {
        let _ = writeln!(
            c,
            "static uint8_t out{k}[{}] __attribute__((aligned(64)));",
            spec.bytes().max(1)
        );
    }
    let _ = writeln!(
        c,
        "static uint8_t arena[{}] __attribute__((aligned(64)));",
        program.arena_bytes.max(1)
    );
    let list = |prefix: &str, n: usize| -> String {
        if n == 0 {
            "0".to_string()
        } else {
            (0..n)
                .map(|k| format!("{prefix}{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(c, "int main(void) {{");
    let _ = writeln!(
        c,
        "    const void *inputs[] = {{{}}};",
        list("in", inputs.len())
    );
    let _ = writeln!(
        c,
        "    void *outputs[] = {{{}}};",
        list("out", program.outputs.len())
    );
    for (k, spec) in program.outputs.iter().enumerate() {
        let _ = writeln!(c, "    memset(out{k}, 0xA5, {});", spec.bytes());
    }
    let _ = writeln!(c, "    int status = {name}_run(inputs, outputs, arena);");
    let _ = writeln!(c, "    printf(\"status %d\\n\", status);");
    for (k, spec) in program.outputs.iter().enumerate() {
        let _ = writeln!(
            c,
            "    print_bytes(\"out\", {k}, out{k}, {});",
            spec.bytes()
        );
    }
    let _ = writeln!(c, "    const nnc_model_desc *d = &{name}_descriptor;");
    c.push_str(
        r#"    printf("abi %u inputs %u outputs %u reserved %u arena %llu align %llu\n",
           d->abi_version, d->num_inputs, d->num_outputs, d->reserved,
           (unsigned long long)d->arena_size, (unsigned long long)d->arena_align);
    print_tensors("input", d->inputs, d->num_inputs);
    print_tensors("output", d->outputs, d->num_outputs);
"#,
    );
    if !inputs.is_empty() {
        let _ = writeln!(
            c,
            "    printf(\"null inputs %d\\n\", {name}_run(0, outputs, arena));"
        );
        let _ = writeln!(
            c,
            "    const void *one_null[] = {{{}}};",
            (0..inputs.len())
                .map(|k| if k + 1 == inputs.len() {
                    "0".to_string()
                } else {
                    format!("in{k}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            c,
            "    printf(\"null input %d\\n\", {name}_run(one_null, outputs, arena));"
        );
    }
    if !program.outputs.is_empty() {
        let _ = writeln!(
            c,
            "    printf(\"null outputs %d\\n\", {name}_run(inputs, 0, arena));"
        );
    }
    if program.arena_bytes > 0 {
        let _ = writeln!(
            c,
            "    printf(\"null arena %d\\n\", {name}_run(inputs, outputs, 0));"
        );
    }
    c.push_str("    return 0;\n}\n");
    c
}

/// The status and output bytes a driver printed.
pub(super) fn parse_outcome(report: &str, outputs: usize) -> Outcome {
    let mut status = None;
    let mut bytes = vec![Vec::new(); outputs];
    for line in report.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("status") => status = words.next().and_then(|s| s.parse().ok()),
            Some("out") => {
                let k: usize = words
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("output index");
                bytes[k] = words
                    .map(|w| u8::from_str_radix(w, 16).expect("a hex byte"))
                    .collect();
            }
            _ => {}
        }
    }
    Outcome {
        status: status.expect("the driver prints a status"),
        outputs: bytes,
    }
}
