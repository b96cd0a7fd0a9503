"""``spladekit inspect MODEL``: what spladekit read from a model folder and how it runs it."""

from __future__ import annotations

import json

import click

from .options import EncoderChoice, encoder_options


@click.command("inspect")
@click.argument("name", metavar="MODEL")
@encoder_options
@click.option("--json", "as_json", is_flag=True, help="Print the description as one JSON object.")
def inspect_command(name: str, encoder: EncoderChoice, as_json: bool) -> None:
    """Describe MODEL: family, backbone, vocabulary, routes, pooling, lengths, prompts, licence.

    MODEL is a Hugging Face id or a folder (it overrides --model). The model is loaded, so
    what is printed is what encoding would use; a folder spladekit cannot run is refused with
    the part it does not support named.
    """
    description = EncoderChoice(name, encoder.config).build().description
    if as_json:
        click.echo(json.dumps(description.to_dict(), ensure_ascii=False))
        return
    for line in description.lines():
        click.echo(line)


COMMANDS = [inspect_command]
