"""What spladekit is for, in one run: index a small corpus into Milvus Lite, search it, explain.

Runs offline on splade-tiny (fetched by scripts/setup.sh). Set SPLADEKIT_MODEL to a hub id or
a folder to use another model, e.g. naver/splade-cocondenser-ensembledistil where the Hub is
reachable. The collection goes into examples/quickstart.db (a Milvus Lite folder); a second
run finds every document already stored and encodes nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from spladekit import MilvusStore, Retriever, SpladeEncoder

HERE = Path(__file__).resolve().parent
TINY = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"

# A small corpus written for this example: short notes on science, history and technology.
CORPUS = [
    ("sci-01", "Graphene is a single layer of carbon atoms that conducts heat and electricity "
               "better than copper."),
    ("sci-02", "Mitochondria produce most of the cell's ATP through oxidative phosphorylation."),
    ("sci-03", "Vaccines train the immune system to recognise a pathogen without causing the "
               "disease."),
    ("sci-04", "Photosynthesis turns carbon dioxide and water into sugar using the energy of "
               "sunlight."),
    ("sci-05", "Insulin resistance often precedes type 2 diabetes by several years."),
    ("sci-06", "Black holes bend light so strongly that nothing escapes from inside the event "
               "horizon."),
    ("sci-07", "Plate tectonics explains earthquakes, volcanoes and the slow drift of "
               "continents."),
    ("sci-08", "Antibiotics kill bacteria but have no effect on viruses such as influenza."),
    ("sci-09", "Vitamin D deficiency is linked to weaker bones and a higher risk of fractures."),
    ("sci-10", "Enzymes speed up chemical reactions and are most active near body temperature."),
    ("his-01", "Alan Turing was born in Maida Vale, London, in 1912 and studied at Cambridge."),
    ("his-02", "Artificial intelligence was founded as an academic discipline at a workshop in "
               "1956."),
    ("his-03", "The printing press, built by Johannes Gutenberg around 1440, spread books across "
               "Europe."),
    ("his-04", "Apollo 11 landed on the Moon in July 1969; Neil Armstrong walked on its "
               "surface first."),
    ("his-05", "The Roman aqueducts carried water over long distances using gravity alone."),
    ("his-06", "Marie Curie won Nobel prizes in both physics and chemistry for her work on "
               "radioactivity."),
    ("his-07", "The Great Wall of China was built over centuries to defend against northern "
               "raids."),
    ("his-08", "Ada Lovelace wrote what is considered the first algorithm meant for a machine."),
    ("tec-01", "A search engine ranks documents by how well their terms match the words of a "
               "query."),
    ("tec-02", "Sparse vectors store only their non-zero weights, which keeps an inverted index "
               "small."),
    ("tec-03", "Solar panels convert sunlight directly into electricity with semiconductor "
               "cells."),
    ("tec-04", "Lithium-ion batteries power phones and electric cars and lose capacity as they "
               "age."),
    ("tec-05", "Compilers translate source code into machine instructions a processor can run."),
    ("tec-06", "Public-key cryptography lets two parties agree on a secret over an open "
               "network."),
    ("tec-07", "A database index lets queries find rows without scanning the whole table."),
    ("tec-08", "Wind turbines turn the kinetic energy of moving air into electrical power."),
    ("tec-09", "GPS receivers compute their position from the timing of satellite signals."),
    ("tec-10", "Noise-cancelling headphones play an inverted copy of ambient sound."),
]

QUERIES = [
    "when was artificial intelligence founded",
    "where was Alan Turing born",
    "renewable energy from the sun",
]


def main() -> None:
    model = os.environ.get("SPLADEKIT_MODEL", str(TINY))
    encoder = SpladeEncoder(model)
    uri = str(HERE / "quickstart.db")
    print(f"model {model}: {encoder.dim} dimensions; collection 'quickstart' in {uri}")
    with MilvusStore(uri, collection="quickstart", model=encoder.model_identity) as store:
        retriever = Retriever(encoder, store)
        with tqdm(total=len(CORPUS), unit="doc", file=sys.stderr) as bar:
            report = retriever.index(CORPUS, chunk_size=8, progress=bar.update)
        print(
            f"indexed: {report.encoded} encoded, {report.skipped} already stored, "
            f"{store.count()} in the collection\n"
        )
        for query in QUERIES:
            explained = retriever.explain(query, k=3, terms=4)
            expansion = ", ".join(f"{t} {w:.2f}" for t, w in explained.query_terms[:6])
            print(f"query: {query}\n  terms: {expansion}")
            for rank, item in enumerate(explained.hits, start=1):
                hit = item.hit
                matched = ", ".join(f"{t} {w:.2f}" for t, w in item.terms)
                print(f"  {rank}. {hit.id}  {hit.score:6.2f}  {hit.text[:60]}")
                print(f"       matched on: {matched}")
            print()


if __name__ == "__main__":
    main()
