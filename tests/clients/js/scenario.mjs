// What every scenario shares: its inputs from the environment, one JSON object on stdout.
//
// BASE_URL, API_KEY and MODEL name the server, the key and the model; INPUT (JSON, default {})
// carries the scenario's own input. A scenario that throws prints
// {"error": {"name", "message", "status", "body"}} instead and exits 1, so that a test can check
// what a user of the library would see.

export const env = {
  baseUrl: required("BASE_URL"),
  apiKey: process.env.API_KEY ?? "",
  model: required("MODEL"),
  input: JSON.parse(process.env.INPUT || "{}"),
};

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

// The AI SDK's APICallError has statusCode and responseBody; ollama-js's ResponseError has
// status_code and error; a RetryError wraps the last of its attempts.
function describe(error) {
  const cause = error?.lastError ?? error;
  return {
    name: error?.name ?? typeof error,
    message: String(error?.message ?? error),
    status: cause?.statusCode ?? cause?.status_code ?? null,
    body: cause?.responseBody ?? cause?.error ?? null,
  };
}

export async function run(scenario) {
  try {
    const result = await scenario(env);
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: describe(error) }) + "\n");
    process.exitCode = 1;
  }
}
