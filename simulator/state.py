"""The simulator's state, shared by its handlers: settings, models, records and slots."""

from dataclasses import dataclass, field

from aiohttp import web

from simulator.catalog import Catalog
from simulator.config import SimConfig
from simulator.records import Records
from simulator.turn import Slots

VERSION = "0.12.6-sim"


@dataclass
class Simulator:
    config: SimConfig
    catalog: Catalog = field(init=False)
    records: Records = field(init=False)
    slots: Slots = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.config)
        self.records = Records(self.config.record_limit)
        self.slots = Slots(self.config.parallel, self.config.max_queue)


SIMULATOR = web.AppKey("simulator", Simulator)


def simulator_of(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]
