"""A LangChain agent with a real tool (a calculator) whose model is ChatBestRoute, fully offline.

To use API models instead, replace the two local endpoints in `local_pool()` with LangChain chat
models and their list prices in US dollars per 1M input / output tokens, e.g.
ChatOpenAI(model="gpt-4o-mini") at 0.15 / 0.60 with ChatOpenAI(model="gpt-4o") at 5.00 / 15.00
as the reference, ChatAnthropic(model="claude-3-5-haiku-latest") at 0.80 / 4.00, or a vLLM server
through ChatOpenAI(base_url=...) / ChatOllama(model=...) at what a token costs you; train a router for the pool (examples/train_your_router.py) and pass --checkpoint. API models
call tools by themselves: drop the `tool_choice` middleware below, which only makes a 135M local
model dependable (call the tool first, then answer in text, so the loop always ends).

    python examples/langchain_agent.py
"""

from __future__ import annotations

import argparse
import ast
import operator
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import wrap_model_call
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from bestroute import demo
from langchain_bestroute import ChatBestRoute, ChatTransformers, ModelSpec

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"not arithmetic: {ast.unparse(node)}")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as '12 * 7' or '(3 + 4) / 2'."""
    try:
        value = _evaluate(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError) as error:
        return f"error: {error}"
    return str(int(value)) if float(value).is_integer() else str(value)


def local_pool(max_new_tokens: int) -> dict[str, ModelSpec]:
    """Two priced endpoints of the local SmolLM2 model (see examples/langchain_chain.py)."""
    from bestroute import TransformersBackend

    weights = TransformersBackend(max_new_tokens=max_new_tokens)
    cheap = ChatTransformers(backend=weights, temperature=0.7, model=demo.CHEAP)
    reference = ChatTransformers(backend=weights, temperature=0.0, model=demo.REFERENCE)
    return {
        demo.CHEAP: ModelSpec(
            chat_model=cheap, input_price=0.10, output_price=0.10, expected_output_tokens=24
        ),
        demo.REFERENCE: ModelSpec(
            chat_model=reference, input_price=5.0, output_price=15.0, expected_output_tokens=24
        ),
    }


@wrap_model_call
def call_the_calculator_then_answer(request: Any, handler: Any) -> Any:
    """Force the calculator on the first turn; once it has answered, reply in text."""
    answered = any(isinstance(message, ToolMessage) for message in request.messages)
    return handler(request.override(tool_choice="none" if answered else "calculator"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=demo.assets_dir())
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("question", nargs="?", default="What is 12 times 7?")
    args = parser.parse_args()

    llm = ChatBestRoute.from_pretrained(args.checkpoint, models=local_pool(args.max_new_tokens))
    agent = create_agent(
        llm,
        [calculator],
        system_prompt="You are a careful assistant. Use the calculator for arithmetic.",
        middleware=[call_the_calculator_then_answer],
    )
    state = agent.invoke(
        {"messages": [HumanMessage(args.question)]}, config={"recursion_limit": 10}
    )
    for message in state["messages"]:
        routing = message.response_metadata.get("bestroute")
        via = f"  [{routing['arm']}, ${routing['actual_cost']:.8f}]" if routing else ""
        calls = getattr(message, "tool_calls", None) or []
        text = (
            "; ".join(f"calls {call['name']}({call['args']})" for call in calls)
            if calls
            else str(message.content).strip()
        )
        print(f"{message.type:>5}: {text}{via}")


if __name__ == "__main__":
    main()
