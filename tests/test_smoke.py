from tests.support.world import World


def test_online_and_holder_codes_verify(any_alg_world: World) -> None:
    w = any_alg_world
    v = w.verifier()
    assert v.verify(w.online(), w.now).kind == "online"
    text, _, _ = w.holder()
    assert v.verify(text, w.now).kind == "holder_bound"
