from azure.data.tables import TableServiceClient

from durable_host.azurite import Azurite, is_listening


def test_fixture_serves_tables_on_loopback(azurite: Azurite, unique_name: str) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table(unique_name)
    table.create_entity({"PartitionKey": "p", "RowKey": "r", "Value": 7})
    assert table.get_entity("p", "r")["Value"] == 7
    assert is_listening(azurite.ports.table)
